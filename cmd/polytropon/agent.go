package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"polytropon/runner"
)

// _agent runs one workload instance inside a pool for `polytropon run`: the
// runner re-executes this binary there and speaks the agent protocol (see
// runner.RunAgent) over stdin and stdout. Hidden from usage. With -job the
// job comes from a file and stdin carries only the commands ("go", "stop"),
// which helps to replay a failed instance by hand.
func init() {
	register(command{
		name:    "_agent",
		summary: "internal: run one workload instance inside a pool (started by run)",
		run: func(stdout, stderr io.Writer, args []string) error {
			fset := newFlagSet("_agent", "", stderr)
			jobFile := fset.String("job", "", "read the job JSON from this file instead of the first stdin line")
			if err := fset.Parse(args); err != nil {
				return err
			}
			var in io.Reader = os.Stdin
			if *jobFile != "" {
				job, err := os.ReadFile(*jobFile)
				if err != nil {
					return err
				}
				in = io.MultiReader(bytes.NewReader(append(bytes.TrimSpace(job), '\n')), os.Stdin)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runner.RunAgent(ctx, in, stdout)
		},
	})
}
