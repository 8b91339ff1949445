package systems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"polytropon/fs/fuse"
	"polytropon/runner/pool"
)

// F and FP are the FUSE baselines: our own stack (fs/local, or a union of a
// private fs/local branch over the shared read-only image when the request
// has a Lower) served through the kernel's FUSE client by one
// `polytropon mount` daemon per container, started inside the pool (so its
// CPU time is the pool's, as the papers' FUSE daemons run in the tenant's
// pool). F opens files with direct I/O and caches nothing in the kernel
// (the paper's ceph-fuse with direct I/O); FP keeps the kernel page cache
// and caches entries and attributes for 1 s. Kernel FUSE passthrough is
// off in both (see fs/fuse). The mounts live in the pool's mount
// namespace: the harness sees them through pool.HostPath.
//
// Options:
//
//	binary   polytropon executable to run as the daemon (default:
//	         $POLYTROPON_BIN, this executable if it is polytropon, or
//	         polytropon in PATH)
//
// Only the local backend is supported: F over Ceph needs the filesystem
// service's own FUSE mount of a cephfs instance.
func init() {
	Register(&fuseSystem{name: "F"})
	Register(&fuseSystem{name: "FP", kernelCache: true})
}

type fuseSystem struct {
	name        string
	kernelCache bool
}

func (s *fuseSystem) Name() string { return s.name }

// binary finds the polytropon executable that runs the daemons, in the
// order the D system uses.
func (s *fuseSystem) binary(opt string) (string, error) {
	for _, cand := range []string{opt, os.Getenv("POLYTROPON_BIN")} {
		if cand != "" {
			if _, err := exec.LookPath(cand); err != nil {
				return "", fmt.Errorf("%w: %s: daemon binary %s: %v", ErrUnavailable, s.name, cand, err)
			}
			return cand, nil
		}
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "polytropon" {
		return exe, nil
	}
	if p, err := exec.LookPath("polytropon"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: %s needs the polytropon binary (set option binary or $POLYTROPON_BIN, or put it in PATH)", ErrUnavailable, s.name)
}

// Check reports whether FUSE mounts can be made here.
func (s *fuseSystem) Check() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: %s needs /dev/fuse (a kernel with FUSE)", ErrUnavailable, s.name)
	}
	have, err := os.ReadFile("/proc/filesystems")
	if err != nil || !hasFilesystem(string(have), "fuse") {
		return fmt.Errorf("%w: %s needs the fuse filesystem in the kernel (not in /proc/filesystems)", ErrUnavailable, s.name)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s must run as root (pools, mounts inside them)", ErrUnavailable, s.name)
	}
	_, err = s.binary("")
	return err
}

// Setup starts one FUSE daemon per container inside the pool and waits
// until each mount is up.
func (s *fuseSystem) Setup(ctx context.Context, p *pool.Pool, req Request) (Instance, error) {
	switch req.Backend {
	case "", "local":
	case "ceph":
		return nil, fmt.Errorf("%w: %s on the ceph backend needs a FUSE mount of the filesystem service's cephfs instance (not available yet)", ErrUnavailable, s.name)
	default:
		return nil, fmt.Errorf("systems: %s: unknown backend %q (want local or ceph)", s.name, req.Backend)
	}
	if req.Containers < 1 {
		return nil, fmt.Errorf("systems: %s: pool %d asks for %d containers", s.name, req.Pool, req.Containers)
	}
	for k := range req.Options {
		if k != "binary" {
			return nil, fmt.Errorf("systems: %s: unknown option %q (have binary)", s.name, k)
		}
	}
	if req.WorkDir == "" {
		return nil, fmt.Errorf("systems: %s: empty WorkDir", s.name)
	}
	if req.Lower != "" {
		if st, err := os.Stat(req.Lower); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("systems: %s: lower image %q is not a directory", s.name, req.Lower)
		}
	}
	bin, err := s.binary(req.Options["binary"])
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("systems: %s: needs a pool to run its daemons in", s.name)
	}
	in := &fuseInstance{sys: s, pool: p}
	if err := in.setup(ctx, bin, req); err != nil {
		if terr := in.Teardown(context.WithoutCancel(ctx)); terr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed setup: %w", terr))
		}
		return nil, fmt.Errorf("systems: %s setup of pool %d: %w", s.name, req.Pool, err)
	}
	return in, nil
}

// fuseDaemon is one container's `polytropon mount`.
type fuseDaemon struct {
	dir     string // the container's directory under WorkDir (removed at teardown)
	mnt     string // mount point (as the pool sees it; the same host path)
	logPath string
	proc    *pool.Process
}

// fuseInstance is F or FP set up for one pool.
type fuseInstance struct {
	sys  *fuseSystem
	pool *pool.Pool

	mu         sync.Mutex // guards the fields below
	daemons    []*fuseDaemon
	containers []Container
	torn       bool
}

func (in *fuseInstance) Container(i int) Container { return in.containers[i] }

// fuseReadyTimeout bounds the wait for one daemon's mount.
const fuseReadyTimeout = 30 * time.Second

func (in *fuseInstance) setup(ctx context.Context, bin string, req Request) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	for i := range req.Containers {
		d := &fuseDaemon{dir: filepath.Join(req.WorkDir, "c"+strconv.Itoa(i))}
		d.mnt = filepath.Join(d.dir, "mnt")
		d.logPath = filepath.Join(d.dir, "mount.log")
		upper := filepath.Join(d.dir, "upper")
		if err := os.Mkdir(d.dir, 0o755); err != nil {
			return err
		}
		in.daemons = append(in.daemons, d)
		for _, sub := range []string{upper, d.mnt} {
			if err := os.Mkdir(sub, 0o755); err != nil {
				return err
			}
		}
		args := []string{bin, "mount", "-dir", upper}
		if in.sys.kernelCache {
			args = append(args, "-kernel-cache")
		}
		if req.Lower != "" {
			args = append(args, "-union", req.Lower)
		}
		args = append(args, "-fsname", fmt.Sprintf("polytropon-%s-p%dc%d", in.sys.name, req.Pool, i), d.mnt)
		logf, err := os.Create(d.logPath)
		if err != nil {
			return err
		}
		d.proc, err = in.pool.Start(ctx, pool.Cmd{Path: bin, Args: args, Stdout: logf, Stderr: logf})
		logf.Close() // the daemon holds its own copy
		if err != nil {
			return fmt.Errorf("starting the FUSE daemon of container %d: %w", i, err)
		}
		if err := d.waitMounted(ctx); err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
		in.containers = append(in.containers, Container{Dir: d.mnt, FS: FSSpec{Kind: HostKind}})
	}
	return nil
}

// waitMounted polls the daemon's own mountinfo (its mount namespace is the
// pool's) until its mount is there, the daemon exits, or time runs out.
func (d *fuseDaemon) waitMounted(ctx context.Context) error {
	mountinfo := fmt.Sprintf("/proc/%d/mountinfo", d.proc.Pid)
	deadline := time.Now().Add(fuseReadyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		ok, err := fuse.IsMounted(mountinfo, d.mnt)
		if ok {
			return nil
		}
		if d.proc.Exited() || (err != nil && !errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("FUSE daemon exited before mounting %s (%v); log:\n%s", d.mnt, d.proc.Wait(), readTail(d.logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not mounted after %v; log:\n%s", d.mnt, fuseReadyTimeout, readTail(d.logPath))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(delay):
		}
	}
}

// readTail returns the end of a log file, for error messages.
func readTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(data) > 4096 {
		data = data[len(data)-4096:]
	}
	return string(bytes.TrimSpace(data))
}

// fuseStopTimeout bounds how long a daemon may take to unmount and exit
// after SIGTERM before it is killed.
const fuseStopTimeout = 10 * time.Second

// Teardown stops every daemon (SIGTERM: it unmounts, detaching lazily if
// the mount is busy; SIGKILL after fuseStopTimeout), removes mounts a
// killed daemon left in the pool, and removes the containers' directories.
// Safe to call more than once.
func (in *fuseInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	var errs []error
	for i := len(in.daemons) - 1; i >= 0; i-- {
		d := in.daemons[i]
		if d.proc != nil {
			if err := d.stop(); err != nil {
				errs = append(errs, err)
			}
		}
		if err := in.unmountLeftover(ctx, d.mnt); err != nil {
			errs = append(errs, err)
			continue // never remove a directory a mount may still show
		}
		if err := os.RemoveAll(d.dir); err != nil {
			errs = append(errs, err)
		}
	}
	in.daemons = nil
	in.torn = true
	return errors.Join(errs...)
}

// stop ends one daemon. A daemon that failed (before or on SIGTERM), had
// to be killed, or found its mount busy (and detached it lazily) is
// reported; one whose pool is already gone is not.
func (d *fuseDaemon) stop() error {
	done := make(chan error, 1)
	go func() { done <- d.proc.Wait() }()
	if !d.proc.Exited() {
		if err := d.proc.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			return fmt.Errorf("systems: stopping the FUSE daemon of %s: %w", d.mnt, err)
		}
	}
	select {
	case err := <-done:
		var ee *pool.ExitError
		switch {
		case err == nil && strings.Contains(readTail(d.logPath), "detached lazily"):
			return fmt.Errorf("systems: %s was busy, detached lazily (processes of the pool still use it)", d.mnt)
		case err == nil, errors.Is(err, pool.ErrEngineGone):
			return nil
		case errors.As(err, &ee):
			return fmt.Errorf("systems: FUSE daemon of %s exited with %v; log:\n%s", d.mnt, ee, readTail(d.logPath))
		default:
			return fmt.Errorf("systems: FUSE daemon of %s: %w", d.mnt, err)
		}
	case <-time.After(fuseStopTimeout):
	}
	d.proc.Signal(syscall.SIGKILL)
	select {
	case <-done:
		return fmt.Errorf("systems: FUSE daemon of %s did not exit %v after SIGTERM; killed", d.mnt, fuseStopTimeout)
	case <-time.After(fuseStopTimeout):
		// Never hang a teardown on an exit report that does not come;
		// destroying the pool kills whatever is left.
		return fmt.Errorf("systems: FUSE daemon of %s: no exit reported %v after SIGKILL", d.mnt, fuseStopTimeout)
	}
}

// unmountLeftover removes a mount that is still on mnt in the pool (its
// daemon was killed, so the connection is dead) or on the host (a pool
// without its own mount namespace), with fusermount3 -u -z or umount -l.
func (in *fuseInstance) unmountLeftover(ctx context.Context, mnt string) error {
	inPool, _ := fuse.IsMounted(fmt.Sprintf("/proc/%d/mountinfo", in.pool.EnginePid()), mnt)
	onHost, _ := fuse.IsMounted("/proc/self/mountinfo", mnt)
	if !inPool && !onHost {
		return nil
	}
	var lastErr error
	for _, argv := range [][]string{{"fusermount3", "-u", "-z", mnt}, {"umount", "-l", mnt}} {
		if _, err := exec.LookPath(argv[0]); err != nil {
			lastErr = err
			continue
		}
		var err error
		if inPool {
			err = in.pool.Run(ctx, pool.Cmd{Path: argv[0], Args: argv})
		} else {
			err = exec.CommandContext(ctx, argv[0], argv[1:]...).Run()
		}
		if err == nil {
			return nil
		}
		lastErr = fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	return fmt.Errorf("systems: cannot remove the leftover FUSE mount %s: %w", mnt, lastErr)
}
