// Command serve is "polytropon serve" alone: tests build it when the full
// polytropon command does not compile (other packages half-written).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"polytropon/fs/service"
)

func main() {
	fset := flag.NewFlagSet("serve", flag.ExitOnError)
	config := service.BindFlags(fset)
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	fset.Parse(args)
	cfg, err := config()
	if err == nil {
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		err = service.Serve(ctx, cfg, os.Stdout, os.Stderr)
		stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "polytropon serve:", err)
		os.Exit(1)
	}
}
