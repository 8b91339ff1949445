package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"

	"polytropon/fs/service"
	"polytropon/fs/stack"
	"polytropon/internal/units"
	"polytropon/runner/metrics"
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
	config := bindServeFlags(fset)
	status := fset.Bool("status", false, "list the orphans of services that are gone (segments, FUSE mounts, attached processes) instead of serving; with -key or -pool only that pool's")
	remove := fset.Bool("remove", false, "with -status: remove the orphans' segments and FUSE mounts")
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
	if *status || *remove {
		return reportOrphans(stdout, fset, cfg, *status, *remove)
	}
	// The userlock collector reads this process's Go lock waits (a no-op
	// unless the runner set $POLYTROPON_METRICS_FILE).
	stopMetrics, err := metrics.ServeRuntimeMetrics("")
	if err != nil {
		return err
	}
	defer stopMetrics()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return service.Serve(ctx, cfg, stdout, stderr)
}

// reportOrphans is "serve -status [-remove]".
func reportOrphans(stdout io.Writer, fset *flag.FlagSet, cfg service.Config, status, remove bool) error {
	if !status {
		return fmt.Errorf("-remove goes with -status")
	}
	var keys []int
	fset.Visit(func(f *flag.Flag) {
		if f.Name == "key" || f.Name == "pool" {
			keys = []int{cfg.SegmentKey()}
		}
	})
	return service.ReportOrphans(stdout, remove, keys...)
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// bindServeFlags binds the flags of "polytropon serve" to fset and returns a
// function that, after fset.Parse, yields the configuration: the -config
// file (if any) with the flags that were set overriding it.
func bindServeFlags(fset *flag.FlagSet) func() (service.Config, error) {
	var (
		cfgFile   = fset.String("config", "", "TOML configuration file (flags below override it)")
		pool      = fset.String("pool", "", "pool name: the segment key derives from it (default $POLYTROPON_POOL or \"default\")")
		key       = fset.Int("key", 0, "explicit System V key (overrides -pool)")
		dir       = fset.String("dir", "", "serve this host directory as a local instance at /")
		design    = fset.String("design", "", "request queue design (default rcqb)")
		wait      = fset.String("wait", "", "wait strategy: spin, spin-futex, futex or adaptive")
		nice      = fset.Int("nice", 0, "nice value of the service threads (-20..19; 0: the process's)")
		copyName  = fset.String("copy", "", "default data transfer: SMC, SMO or CMA")
		buffers   = fset.Int("buffers", 0, "request buffers")
		bufSize   units.Size
		queues    = fset.Int("queues", 0, "request queues (0: one per core group)")
		pin       = fset.Bool("pin", false, "pin service threads to their core group")
		fuseCache = fset.Bool("fuse-kernel-cache", false, "let the kernel cache the -fuse mounts (default: direct I/O, no caching)")
		mountDirs stringList
		fuseMnts  stringList
	)
	fset.TextVar(&bufSize, "buffer-size", units.Size(0), "size of each buffer's data area (bytes, or with a unit: 64KiB)")
	fset.Var(&mountDirs, "mount-dir", "host directory under which MOUNT requests may create local branches (repeatable)")
	fset.Var(&fuseMnts, "fuse", "also mount an instance with FUSE: `PATH` (at its own path) or PATH=DIR (at host directory DIR); repeatable")
	return func() (service.Config, error) {
		var cfg service.Config
		if *cfgFile != "" {
			var err error
			if cfg, err = service.LoadConfig(*cfgFile); err != nil {
				return cfg, err
			}
		}
		set := map[string]bool{}
		fset.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if set["pool"] {
			cfg.Pool = *pool
		}
		if set["key"] {
			cfg.Key = *key
		}
		if *design != "" {
			cfg.Design = *design
		}
		if *wait != "" {
			cfg.Wait = *wait
		}
		if *nice != 0 {
			cfg.Nice = *nice
		}
		if *copyName != "" {
			cfg.Copy = *copyName
		}
		if *buffers != 0 {
			cfg.Buffers = *buffers
		}
		if bufSize != 0 {
			cfg.BufferSize = bufSize
		}
		if *queues != 0 {
			cfg.Queues = *queues
		}
		if set["pin"] {
			cfg.Pin = *pin
		}
		cfg.MountDirs = append(cfg.MountDirs, mountDirs...)
		if *dir != "" {
			cfg.Instances = append(cfg.Instances, service.InstanceConfig{
				Path: "/", Share: true, Stack: []stack.Layer{{Type: "local", Dir: *dir}},
			})
		}
		for _, spec := range fuseMnts {
			inst, dir, explicit := strings.Cut(spec, "=")
			if explicit && dir == "" {
				return cfg, fmt.Errorf("%w: -fuse %q: empty mount point", service.ErrConfig, spec)
			}
			if err := cfg.SetFuse(inst, service.FuseTarget{AtPath: !explicit, Dir: dir}); err != nil {
				return cfg, fmt.Errorf("-fuse %q: %w", spec, err)
			}
		}
		if *fuseCache {
			for i := range cfg.Instances {
				if cfg.Instances[i].Fuse.Enabled() {
					cfg.Instances[i].FuseKernelCache = true
				}
			}
		}
		cfg.EnsureDefaults()
		return cfg, cfg.Validate()
	}
}
