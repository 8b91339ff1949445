package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"polytropon/fs/fuse"
	"polytropon/fs/stack"
)

func init() {
	register(command{
		name:    "mount",
		summary: "serve a local (or union-over-local) stack as a FUSE mount in the foreground, without a filesystem service",
		run:     runMount,
	})
}

// lowerDirs is the repeatable -union flag.
type lowerDirs []string

func (l *lowerDirs) String() string     { return strings.Join(*l, ",") }
func (l *lowerDirs) Set(v string) error { *l = append(*l, v); return nil }

func runMount(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("mount", "MOUNTPOINT", stderr)
	var (
		dir         = fset.String("dir", "", "host directory to serve (the writable branch when -union is given); required")
		kernelCache = fset.Bool("kernel-cache", false, "keep the kernel page cache and cache entries/attributes for 1 s (FP); default direct I/O (F)")
		allowOther  = fset.Bool("allow-other", false, "let users other than the mounting one use the mount")
		debug       = fset.Bool("debug", false, "log every FUSE request to stderr")
		fsName      = fset.String("fsname", "", "source name shown in /proc/mounts (default polytropon)")
		lowers      lowerDirs
	)
	fset.Var(&lowers, "union", "read-only lower branch below -dir, top to bottom (repeatable)")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() != 1 {
		fset.Usage()
		return fmt.Errorf("want exactly one MOUNTPOINT, got %q", fset.Args())
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	mnt := fset.Arg(0)

	if err := isDir(*dir); err != nil {
		return fmt.Errorf("-dir: upper branch: %w", err)
	}
	for _, l := range lowers {
		if err := isDir(l); err != nil {
			return fmt.Errorf("-union: lower branch: %w", err)
		}
	}
	var b stack.Builder
	st, err := b.Build(stack.LocalStack(*dir, lowers...))
	if err != nil {
		return err
	}
	defer st.Close()
	// Signals are caught before the mount exists, so a SIGTERM that
	// arrives right after it never leaves the mount behind.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	srv, err := fuse.Mount(st.Service, mnt, fuse.Options{
		KernelCache: *kernelCache, AllowOther: *allowOther, Debug: *debug, FsName: *fsName,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "mounted %s on %s\n", *dir, mnt)

	served := make(chan struct{})
	go func() { srv.Wait(); close(served) }()
	select {
	case <-ctx.Done():
	case <-served: // unmounted from outside (fusermount3 -u)
		return nil
	}
	if err := srv.Unmount(); err != nil {
		// Busy: detach it and exit; the kernel ends the connection with
		// this process, and remaining users get ENOTCONN.
		if derr := srv.Detach(); derr != nil {
			return errors.Join(err, derr)
		}
		fmt.Fprintf(stderr, "polytropon mount: %v; detached lazily\n", err)
	}
	return nil
}

// isDir reports why path is not a directory, or nil.
func isDir(path string) error {
	st, err := os.Stat(path)
	if err == nil && !st.IsDir() {
		err = fmt.Errorf("%s is not a directory", path)
	}
	return err
}
