package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"polytropon/internal/units"
	"polytropon/runner/ipcbench"
)

func init() {
	register(command{
		name:    "copybench",
		summary: "bake-off of the data-transfer methods (plain, SMC, SMO, CMA): GB/s per size",
		run:     runCopybench,
	})
}

func runCopybench(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("copybench", "", stderr)
	methods := fset.String("methods", "", "comma-separated methods (default: plain,SMC,SMO,CMA, i.e. every registered one)")
	sizes := fset.String("sizes", "4KiB,16KiB,64KiB,256KiB,1MiB,4MiB,16MiB", "comma-separated copy sizes (4096, 4KiB or 4k, 1MiB; kB, MB are powers of 1000)")
	duration := fset.Duration("duration", 200*time.Millisecond, "measuring time per point")
	staging := fset.String("staging", "", "size of the shared staging buffer of SMC/SMO (default: the largest size)")
	noPeer := fset.Bool("no-peer", false, "skip the two-process variants (CMA reading a peer, SMC/SMO handing the data to a peer)")
	rounds := fset.Int("rounds", 1, "split every point into this many slices, measured round robin with the other methods and pooled")
	pin := fset.Bool("pin", false, "pin the measuring thread to a CPU")
	out := fset.String("out", "", "directory in which the run directory copybench-<UTC time> is created (summary.csv, bench.txt for benchstat, samples, plots; compare runs with polytropon compare); default: print only")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	cfg := ipcbench.CopyConfig{Methods: ipcbenchList(*methods), Duration: *duration, CrossProcess: !*noPeer, Pin: *pin, Rounds: *rounds}
	var err error
	if cfg.Sizes, err = ipcbenchInts("-sizes", *sizes, byteSize); err != nil {
		return err
	}
	if *staging != "" {
		n, err := units.ParseSize(*staging)
		if err != nil {
			return fmt.Errorf("-staging: %w", err)
		}
		cfg.Staging = int(n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = ipcbench.CopyBench(ctx, cfg, *out, stdout)
	return err
}

// byteSize parses one copy size (internal/units.ParseSize); it must be
// positive.
func byteSize(s string) (int, error) {
	n, err := units.ParseSize(s)
	if err != nil {
		return 0, err
	}
	if n <= 0 {
		return 0, fmt.Errorf("size %q is not positive", s)
	}
	return int(n), nil
}
