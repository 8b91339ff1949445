package service

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"

	"polytropon/runner/metrics"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// BindFlags binds the flags of "polytropon serve" to fset and returns a
// function that, after fset.Parse, yields the configuration: the -config
// file (if any) with the flags that were set overriding it.
func BindFlags(fset *flag.FlagSet) func() (Config, error) {
	var (
		cfgFile   = fset.String("config", "", "TOML configuration file (flags below override it)")
		pool      = fset.String("pool", "", "pool name: the segment key derives from it (default $POLYTROPON_POOL or \"default\")")
		key       = fset.Int("key", 0, "explicit System V key (overrides -pool)")
		dir       = fset.String("dir", "", "serve this host directory as a local instance at /")
		design    = fset.String("design", "", "request queue design (default rcqb)")
		wait      = fset.String("wait", "", "wait strategy: spin, spin-futex or futex")
		copyName  = fset.String("copy", "", "default data transfer: SMC, SMO or CMA")
		buffers   = fset.Int("buffers", 0, "request buffers")
		bufSize   = fset.Int("buffer-size", 0, "bytes of each buffer's data area")
		queues    = fset.Int("queues", 0, "request queues (0: one per core group)")
		pin       = fset.Bool("pin", false, "pin service threads to their core group")
		fuseCache = fset.Bool("fuse-kernel-cache", false, "let the kernel cache the -fuse mounts (default: direct I/O, no caching)")
		mountDirs stringList
		fuseMnts  stringList
	)
	fset.Var(&mountDirs, "mount-dir", "host directory under which MOUNT requests may create local branches (repeatable)")
	fset.Var(&fuseMnts, "fuse", "also mount an instance with FUSE: `PATH` (at its own path) or PATH=DIR (at host directory DIR); repeatable")
	return func() (Config, error) {
		var cfg Config
		if *cfgFile != "" {
			var err error
			if cfg, err = LoadConfig(*cfgFile); err != nil {
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
		if *copyName != "" {
			cfg.Copy = *copyName
		}
		if *buffers != 0 {
			cfg.Buffers = *buffers
		}
		if *bufSize != 0 {
			cfg.BufferSize = *bufSize
		}
		if *queues != 0 {
			cfg.Queues = *queues
		}
		if set["pin"] {
			cfg.Pin = *pin
		}
		cfg.MountDirs = append(cfg.MountDirs, mountDirs...)
		if *dir != "" {
			cfg.Instances = append(cfg.Instances, InstanceConfig{
				Path: "/", Share: true, Stack: []Layer{{Type: "local", Dir: *dir}},
			})
		}
		for _, spec := range fuseMnts {
			inst, dir, explicit := strings.Cut(spec, "=")
			p, err := CleanMountPath(inst)
			if err != nil {
				return cfg, fmt.Errorf("%w: -fuse %q: %v", ErrConfig, spec, err)
			}
			found := false
			for i := range cfg.Instances {
				if ip, _ := CleanMountPath(cfg.Instances[i].Path); ip == p {
					cfg.Instances[i].Fuse = FuseTarget{AtPath: !explicit, Dir: dir}
					found = true
				}
			}
			if !found {
				return cfg, fmt.Errorf("%w: -fuse %q: no instance at %s", ErrConfig, spec, p)
			}
			if explicit && dir == "" {
				return cfg, fmt.Errorf("%w: -fuse %q: empty mount point", ErrConfig, spec)
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

// Serve builds the service, prints "ready key=K shmid=S pid=P" to stdout
// once clients can attach, serves until ctx is done and stops (removing
// the segment).
//
// With $POLYTROPON_METRICS_FILE set, it answers the runtime-metrics
// protocol of runner/metrics (SIGUSR1 -> snapshot in that file). With
// $POLYTROPON_SERVE_CPUPROFILE set, the service writes a CPU profile
// of its whole run to that file (for diagnosing the service side of the
// IPC path).
func Serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	// The userlock collector reads this process's Go lock waits
	// (no-op unless $POLYTROPON_METRICS_FILE is set).
	stopMetrics, err := metrics.ServeRuntimeMetrics("")
	if err != nil {
		return err
	}
	defer stopMetrics()
	svc, err := New(cfg, stderr)
	if err != nil {
		return err
	}
	// Service threads are locked to OS threads and poll; each needs a P
	// of its own, and the heartbeat and reaper need one more.
	if need := int(svc.w.Layout.NumQueues)*(1+max(cfg.MaxExtra, 1)) + 1; runtime.GOMAXPROCS(0) < need {
		runtime.GOMAXPROCS(need)
	}
	if f := os.Getenv("POLYTROPON_SERVE_CPUPROFILE"); f != "" {
		out, err := os.Create(fmt.Sprintf("%s.%d", f, os.Getpid()))
		if err != nil {
			svc.Stop()
			return err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			out.Close()
			svc.Stop()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
		}()
	}
	svc.Start()
	fmt.Fprintf(stdout, "ready key=%#x shmid=%d pid=%d\n", svc.Key(), svc.SegmentID(), os.Getpid())
	<-ctx.Done()
	return svc.Stop()
}
