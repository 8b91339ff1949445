package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"polytropon/runner"
)

// _agent runs one workload instance inside a pool for `polytropon run`: the
// runner re-executes this binary there and speaks the agent protocol (see
// runner.RunAgent) over stdin and stdout. Hidden from usage.
func init() {
	register(command{
		name:    "_agent",
		summary: "internal: run one workload instance inside a pool (started by run)",
		run: func(stdout, stderr io.Writer, args []string) error {
			fset := newFlagSet("_agent", "", stderr)
			if err := fset.Parse(args); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runner.RunAgent(ctx, os.Stdin, stdout)
		},
	})
}
