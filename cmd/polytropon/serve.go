package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runServe(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("serve", "", stderr)
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
		mountDirs stringList
	)
	fset.Var(&mountDirs, "mount-dir", "host directory under which MOUNT requests may create local branches (repeatable)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	var cfg service.Config
	if *cfgFile != "" {
		var err error
		if cfg, err = service.LoadConfig(*cfgFile); err != nil {
			return err
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
		cfg.Instances = append(cfg.Instances, service.InstanceConfig{
			Path: "/", Share: true, Stack: []service.Layer{{Type: "local", Dir: *dir}},
		})
	}
	svc, err := service.New(cfg, stderr)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	svc.Start()
	fmt.Fprintf(stdout, "ready key=%#x shmid=%d pid=%d\n", svc.Key(), svc.SegmentID(), os.Getpid())
	<-ctx.Done()
	return svc.Stop()
}
