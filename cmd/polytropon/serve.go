package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"polytropon/fs/service"
)

func init() {
	register(command{
		name:    "serve",
		summary: "run a pool's filesystem service (instances served over System V shared memory)",
		run:     runServe,
	})
}

func runServe(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("serve", "", stderr)
	config := service.BindFlags(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	cfg, err := config()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return service.Serve(ctx, cfg, stdout, stderr)
}
