package fuse

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/mountinfo"
)

// Options configure a mount.
type Options struct {
	// KernelCache keeps the kernel page cache and caches entries and
	// attributes for CacheTimeout (system FP). When false, files use
	// direct I/O and nothing is cached (system F).
	KernelCache bool
	// CacheTimeout is the entry and attribute timeout with KernelCache;
	// 0 means 1 s. Ignored without KernelCache.
	CacheTimeout time.Duration
	// AllowOther lets users other than the mounting one use the mount.
	AllowOther bool
	// Debug logs every FUSE request and reply (go-fuse's debug log) to
	// the standard logger.
	Debug bool
	// FsName is the source shown in /proc/mounts and df; default
	// "polytropon". The filesystem type is always "fuse.polytropon".
	FsName string
}

// FSType is the type of the mounts made by Mount, as /proc/self/mountinfo
// shows it.
const FSType = "fuse.polytropon"

// Server is a mounted libservice.
type Server struct {
	srv        *gofuse.Server
	mountpoint string
	conn       string // fusectl name of the connection; "" if unknown

	mu        sync.Mutex // guards unmounted
	unmounted bool
}

// Mount mounts svc on mountpoint (an existing directory) and serves it until
// Unmount. It returns once the kernel has completed the FUSE handshake.
// svc stays the caller's: close it after the server is gone.
func Mount(svc fs.Service, mountpoint string, opts Options) (*Server, error) {
	st, err := os.Stat(mountpoint)
	if err != nil {
		return nil, fmt.Errorf("fuse: mount point: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fuse: mount point %s is not a directory", mountpoint)
	}
	root, err := svc.Stat(context.Background(), "")
	if err != nil {
		return nil, fmt.Errorf("fuse: stat of the service root: %w", err)
	}
	if !root.IsDir() {
		return nil, fmt.Errorf("fuse: the service root is not a directory (mode %o)", root.Mode)
	}
	b := newBridge(svc, opts, root)

	var timeout time.Duration
	if opts.KernelCache {
		timeout = opts.CacheTimeout
		if timeout <= 0 {
			timeout = time.Second
		}
	}
	negative := time.Duration(0) // libfuse's default: do not cache misses
	fsName := opts.FsName
	if fsName == "" {
		fsName = "polytropon"
	}
	mopts := gofuse.MountOptions{
		AllowOther: opts.AllowOther,
		// The kernel checks permissions against the caller: the daemon
		// itself runs every call with its own (root) credentials.
		Options: []string{"default_permissions"},
		FsName:  fsName,
		Name:    "polytropon",
		Debug:   opts.Debug,
		// As root, mount(2) directly (no fusermount3 needed, also inside
		// a pool's mount namespace); others fall back to fusermount3.
		DirectMount: true,
		// Passthrough would let the kernel read backing files without
		// the daemon; the baselines must measure the daemon.
		DisabledCapabilities: gofuse.CAP_PASSTHROUGH,
	}
	if !opts.KernelCache {
		// Shared mmap of FOPEN_DIRECT_IO files (Linux 6.6+); without it
		// MAP_SHARED fails with ENODEV on system F.
		mopts.ExtraCapabilities = gofuse.CAP_DIRECT_IO_ALLOW_MMAP
	}
	rootAttr := fusefs.StableAttr{Ino: b.ino(root.Dev, root.Ino), Gen: 1}
	nodeOpts := &fusefs.Options{
		MountOptions:    mopts,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &negative,
		// Report the service's permission bits even when they are 0.
		NullPermissions: true,
		RootStableAttr:  &rootAttr,
	}
	raw := fusefs.NewNodeFS(b.root, nodeOpts)
	srv, err := gofuse.NewServer(raw, mountpoint, &nodeOpts.MountOptions)
	if err != nil {
		return nil, fmt.Errorf("fuse: mount %s: %w", mountpoint, err)
	}
	go srv.Serve()
	if err := srv.WaitMount(); err != nil {
		_ = srv.Unmount()
		return nil, fmt.Errorf("fuse: mount %s: %w", mountpoint, err)
	}
	conn, _ := connectionOf(mountpoint) // without it Unmount cannot abort (abort.go)
	return &Server{srv: srv, mountpoint: mountpoint, conn: conn}, nil
}

// Mountpoint returns the directory the service is mounted on.
func (s *Server) Mountpoint() string { return s.mountpoint }

// Unmount unmounts and waits until the request loops have stopped. A busy
// mount (open files, a process's cwd) is not detached: the error wraps
// EBUSY, and Detach is the caller's next step. Unmount of an unmounted
// server returns nil.
func (s *Server) Unmount() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unmounted {
		return nil
	}
	if err := s.unmountOrAbort(); err != nil {
		if !mounted(s.mountpoint) {
			// Unmounted from outside (fusermount3 -u): the loops
			// end on their own.
			s.srv.Wait()
			s.unmounted = true
			return nil
		}
		return fmt.Errorf("fuse: unmount %s: %w", s.mountpoint, err)
	}
	s.unmounted = true
	return nil
}

// abortAfter is how long Unmount waits for the request loops once the
// mount is gone from this namespace before it aborts the connection.
const abortAfter = time.Second

// unmountOrAbort is go-fuse's Unmount (unmount, retried while busy, then
// wait for the request loops), but when the mount has left this namespace
// and the loops still run after abortAfter, another namespace holds a copy
// of the mount and the connection is aborted (abort.go).
func (s *Server) unmountOrAbort() error {
	done := make(chan error, 1)
	go func() { done <- s.srv.Unmount() }()
	tick := time.NewTicker(abortAfter)
	defer tick.Stop()
	aborted := false
	for {
		select {
		case err := <-done:
			return err
		case <-tick.C:
			if !aborted && s.conn != "" && !mounted(s.mountpoint) {
				aborted = abortConnection(s.conn) == nil
			}
		}
	}
}

// Detach lazily unmounts (MNT_DETACH): the mount leaves the namespace at
// once, and the server keeps serving files that are still open until they
// are closed; Wait returns then. Use it after Unmount failed with EBUSY.
func (s *Server) Detach() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.unmounted {
		return nil
	}
	err := unix.Unmount(s.mountpoint, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, syscall.EINVAL) { // EINVAL: not mounted any more
		return fmt.Errorf("fuse: lazy unmount %s: %w", s.mountpoint, err)
	}
	s.unmounted = true
	return nil
}

// Wait blocks until the server stops serving: after Unmount, after the
// last user of a detached mount went, or after an external unmount.
func (s *Server) Wait() { s.srv.Wait() }

// mounted reports whether dir is a mount point of FSType in this mount
// namespace.
func mounted(dir string) bool {
	ok, _ := IsMounted("/proc/self/mountinfo", dir)
	return ok
}

// IsMounted reports whether file (a /proc/<pid>/mountinfo file, so that
// another mount namespace can be inspected) lists a mount of FSType on dir.
func IsMounted(file, dir string) (bool, error) {
	entries, err := mountinfo.Read(file)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Point == dir && e.FSType == FSType {
			return true, nil
		}
	}
	return false, nil
}
