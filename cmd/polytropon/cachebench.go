package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"

	"polytropon/internal/units"
	"polytropon/runner/cachebench"
)

func init() {
	register(command{
		name:    "cachebench",
		summary: "Justitia proportionality run: tenants with weights over one shared cache, PV and Jain per cache setting",
		run:     runCachebench,
	})
}

func runCachebench(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("cachebench", "EXPERIMENT.toml", stderr)
	settings := fset.String("settings", strings.Join(cachebench.DefaultSettings, ","),
		"comma-separated cache settings to compare: conventional, direct, weighted, weighted-aging, lru")
	out := fset.String("out", "", "directory in which the run directory cachebench-<UTC time> is created (summary.csv, bench.txt for benchstat, samples, the proportionality figure; compare runs with polytropon compare); default: print only")
	work := fset.String("work", "", "directory for the tenants' data (default: a temporary directory, removed)")
	duration := fset.Duration("duration", 0, "override run.duration")
	warmup := fset.Duration("warmup", -1, "override run.warmup")
	reps := fset.Int("reps", 0, "override the repetitions (default run.repetitions.min)")
	var capacity units.Size
	fset.TextVar(&capacity, "capacity", units.Size(0), "override the shared pool size, a size such as 128MiB (default: tenants × [tenants].cache)")
	pageSize := fset.Int("page-size", 0, "cache page size in bytes (default 64 KiB)")
	slots := fset.Int("slots", 0, "allocation slots of the pool (default 1, the paper's allocation lock)")
	clones := fset.String("clones", "", "instead of an experiment: clone counts (1,4,16) reading one image through D's stacks; prints cache pages and memory per count")
	image := units.Size(256 << 20)
	fset.TextVar(&image, "image", image, "with -clones: the image's size")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if *clones != "" {
		return runClones(stdout, stderr, *clones, image, *work)
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return fmt.Errorf("want exactly one experiment file, got %d arguments", fset.NArg())
	}
	cfg, err := cachebench.FromExperiment(fset.Arg(0))
	if err != nil {
		return err
	}
	cfg.Settings = nil
	for _, s := range strings.Split(*settings, ",") {
		st, ok := cachebench.Settings[strings.TrimSpace(s)]
		if !ok {
			return fmt.Errorf("-settings: unknown setting %q", s)
		}
		cfg.Settings = append(cfg.Settings, st)
	}
	if *duration > 0 {
		cfg.Duration = *duration
	}
	if *warmup >= 0 {
		cfg.Warmup = *warmup
	}
	if *reps > 0 {
		cfg.Repetitions = *reps
	}
	if capacity > 0 {
		cfg.Capacity = capacity.Bytes()
	}
	cfg.PageSize, cfg.Slots, cfg.WorkDir, cfg.OutDir = *pageSize, *slots, *work, *out
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rep, err := cachebench.Run(ctx, cfg, stderr)
	if rep == nil {
		return err
	}
	if werr := rep.WriteText(stdout); werr != nil {
		return errors.Join(err, werr)
	}
	if rep.Dir != "" {
		fmt.Fprintf(stdout, "run %s\n", rep.Dir)
		for _, f := range rep.Files {
			fmt.Fprintln(stdout, "plot:", f)
		}
	}
	return err
}

// runClones is cachebench -clones: the client cache of clones.
func runClones(stdout, stderr io.Writer, counts string, image units.Size, work string) error {
	cfg := cachebench.ClonesConfig{ImageSize: image.Bytes(), WorkDir: work}
	for _, c := range strings.Split(counts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil {
			return fmt.Errorf("-clones: %q is not a clone count", c)
		}
		cfg.Counts = append(cfg.Counts, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rows, err := cachebench.Clones(ctx, cfg, stderr)
	if werr := cachebench.WriteClones(stdout, rows); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}
