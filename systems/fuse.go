package systems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"polytropon/fs/fuse"
	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
	"polytropon/ipc/queue"
)

// F and FP are the FUSE baselines on the local backend: the filesystem
// service's own FUSE mount and nothing else. One "polytropon serve" per
// pool (started inside the pool, like D's, so its CPU time and memory are
// the pool's) has one instance per container, our stack of fs/local, or a
// union of a private fs/local branch over the shared read-only image when
// the request has a Lower, with no user-level cache and buffered branches;
// the service mounts each instance with FUSE on the container's directory
// in the pool's mount namespace, and programs reach it through the
// kernel only (no preload library, no shared-memory client): user-level
// execution, kernel path. F opens files with direct I/O and caches nothing
// in the kernel (the paper's ceph-fuse with direct I/O); FP keeps the
// kernel page cache and caches entries and attributes for 1 s. Kernel FUSE
// passthrough is off in both (see fs/fuse). The harness sees the mounts
// through pool.HostPath.
//
// Options (FuseOptions):
//
//	binary   polytropon executable to run as the service (default:
//	         $POLYTROPON_BIN, this executable if it is polytropon, or
//	         polytropon in PATH)
//	ext4_image_size
//	         the branches on the pool's own ext4 filesystem, as D's
//	         (default 4GiB; 0: the run's directory on the host)
//
// Only the local backend is supported; over Ceph the FUSE baselines are
// ceph-fuse (F-ceph, FP-ceph, ceph_fuse.go).
func init() {
	Register(&fuseSystem{name: "F"})
	Register(&fuseSystem{name: "FP", kernelCache: true})
}

type fuseSystem struct {
	name        string
	kernelCache bool
}

func (s *fuseSystem) Name() string { return s.name }

// Backend is the storage backend the system runs on.
func (*fuseSystem) Backend() string { return "local" }

// FuseOptions are the options of F and FP ([options.F]).
type FuseOptions struct {
	Binary        string     `toml:"binary"`
	Ext4ImageSize units.Size `toml:"ext4_image_size"`
}

// NewOptions returns F's options with their defaults.
func (*fuseSystem) NewOptions() any { return &FuseOptions{Ext4ImageSize: defaultExt4ImageSize} }

// Check reports whether FUSE mounts can be made here.
func (s *fuseSystem) Check() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: %s needs /dev/fuse (a kernel with FUSE)", ErrUnavailable, s.name)
	}
	have, err := os.ReadFile(hostcheck.ProcFilesystems)
	if err != nil || !hasFilesystem(string(have), "fuse") {
		return fmt.Errorf("%w: %s needs the fuse filesystem in the kernel (not in /proc/filesystems)", ErrUnavailable, s.name)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s must run as root (pools, mounts inside them)", ErrUnavailable, s.name)
	}
	_, err = serviceBinary("")
	return err
}

// Setup starts the pool's service with a FUSE mount per container and
// waits until every mount is up.
func (s *fuseSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if err := checkRequest(s.name, req, "local", "runs on the local backend; over Ceph use F-ceph or FP-ceph (ceph-fuse)"); err != nil {
		return nil, err
	}
	fo, err := optionsOf[FuseOptions](s, req)
	if err != nil {
		return nil, err
	}
	if _, err := lowerDir(s.name, req); err != nil {
		return nil, err
	}
	bin, err := serviceBinary(fo.Binary)
	if err != nil {
		return nil, fmt.Errorf("systems: %s: %w", s.name, err)
	}
	if p == nil {
		return nil, fmt.Errorf("systems: %s: needs a pool to run its service in", s.name)
	}
	// D's configuration with the user-level path taken out: no cache,
	// buffered branches, FUSE on every instance; the service's queues
	// get no client, so its threads sleep (futex) instead of polling.
	o := defaultUserlevelOptions()
	o.Cache, o.ODirect, o.Fuse, o.FuseKernelCache = new(false), false, true, s.kernelCache
	o.Wait, o.Pin = queue.Futex.String(), false
	in := &fuseInstance{userlevelInstance{name: s.name, pool: p, fuse: true}}
	branches, err := userlevelBranches(ctx, &in.userlevelInstance, req, fo.Ext4ImageSize.Bytes())
	if err != nil {
		return nil, setupFailed(ctx, s.name, req, in, err)
	}
	cfg, containers, err := userlevelConfig(s.name, p.Name(), "", o, req, branches)
	if err != nil {
		return nil, setupFailed(ctx, s.name, req, in, err)
	}
	for i := range containers {
		containers[i] = Container{Dir: containers[i].Dir, FS: FSSpec{Kind: HostKind}}
	}
	in.containers = containers
	if err := in.start(ctx, bin, cfg, req.WorkDir, req.ServiceEnv); err != nil {
		return nil, setupFailed(ctx, s.name, req, in, err)
	}
	return in, nil
}

// fuseInstance is F or FP set up for one pool: D's service instance
// without the user-level path, whose teardown also removes what it made
// in WorkDir.
type fuseInstance struct {
	userlevelInstance
}

// Teardown stops the service (it unmounts; mounts a killed service left in
// the pool are removed) and removes the containers' directories and the
// files the service was started with; a directory a mount still covers
// stays (the failure to unmount it is reported). Safe to call more than
// once.
func (in *fuseInstance) Teardown(ctx context.Context) error {
	errs := []error{in.userlevelInstance.Teardown(ctx)}
	for _, c := range in.containers {
		if in.pool != nil {
			if inPool, onHost := mountedWhere(in.pool, c.Dir); inPool || onHost {
				continue
			}
		}
		if err := os.RemoveAll(filepath.Dir(c.Dir)); err != nil {
			errs = append(errs, err)
		}
	}
	for _, f := range in.made {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// fuseDaemon is one FUSE daemon process of the Ceph systems (ceph-fuse,
// unionfs-fuse).
type fuseDaemon struct {
	dir     string // the daemon's directory (removed at teardown)
	mnt     string // mount point (as the pool sees it; the same host path)
	logPath string
	proc    Process
}

// fuseReadyTimeout bounds the wait for one daemon's mount. Generous: on an
// emulated CPU (the guest of scripts/guest.sh) a ceph-fuse mount takes tens
// of seconds.
const fuseReadyTimeout = 2 * time.Minute

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
// after SIGTERM before it is killed. ceph-fuse closes its MDS session
// first, which on an emulated CPU (the guest) takes more than 10 s.
const fuseStopTimeout = time.Minute

// mountedWhere reports whether mnt carries a FUSE mount in pool p's mount
// namespace and on the host.
func mountedWhere(p Pool, mnt string) (inPool, onHost bool) {
	inPool, _ = fuse.IsMounted(fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid()), mnt)
	onHost, _ = fuse.IsMounted("/proc/self/mountinfo", mnt)
	return inPool, onHost
}

// unmountLeftover removes a mount that is still on mnt in the pool (its
// daemon was killed, so the connection is dead) or on the host (a pool
// without its own mount namespace), with fusermount3 -u -z or umount -l.
func unmountLeftover(ctx context.Context, p Pool, mnt string) error {
	inPool, onHost := mountedWhere(p, mnt)
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
			err = runIn(ctx, p, Cmd{Path: argv[0], Args: argv})
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
