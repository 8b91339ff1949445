package main

import (
	"context"
	"fmt"
	"io"

	"polytropon/runner"
)

// version prints what this binary is and which tools it found.
func init() {
	register(command{
		name:    "version",
		summary: "print the version, commit, Go version, build tags and the versions of the external tools found",
		run:     runVersion,
	})
}

func runVersion(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("version", "", stderr)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		fset.Usage()
		return fmt.Errorf("takes no arguments, got %q", fset.Args())
	}
	runner.Version(context.Background()).Write(stdout)
	return nil
}
