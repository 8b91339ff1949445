package main

import (
	"fmt"
	"io"

	"polytropon/runner/pool"
)

// Importing runner/pool makes this binary a pool engine host: pool.Create
// re-executes /proc/self/exe with an environment switch, and the package's
// init turns that process into the pool's PID 1 before main runs.

func init() {
	pool.MaybeRunInit()
	register(command{
		name:    "_poolsweep",
		summary: "kill and remove the pools a dead run left under a cgroup group",
		run:     runPoolSweep,
	})
}

func runPoolSweep(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("_poolsweep", "GROUP", stderr)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return fmt.Errorf("want one cgroup group (a pool.Spec.Group, e.g. %s/run-1), got %d arguments", pool.DefaultGroup, fset.NArg())
	}
	if err := pool.Sweep(fset.Arg(0)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "swept %s\n", fset.Arg(0))
	return nil
}
