package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// loopExt4 is a pool's own ext4 filesystem: a sparse image file in the
// run's directory on a loop device, mounted inside the pool's mount
// namespace. K keeps its data on one, and so do D's and F's writable
// branches, so every local system stores its data on the same kind of
// filesystem, apart from the host's root filesystem (where a noise
// workload such as the isolation figures' RND writes).
type loopExt4 struct {
	pool  Pool
	image string // sparse image file
	mnt   string // mount point, as the pool sees it (the same host path)

	mu      sync.Mutex
	dev     string // attached loop device, "" once detached or never attached
	mounted bool   // a mount(8) was started (it may have mounted)
	made    []string
}

// makeLoopExt4 makes an ext4 image of size bytes at workDir/ext4.img,
// attaches it to a loop device (with direct I/O on the image when
// directIO: the data is then cached once, in the page cache of the ext4
// inside, as on a real disk), and mounts it at workDir/mnt in pool p with
// mountOptions. On failure the returned value (never nil) still knows
// what was made: call its teardown.
func makeLoopExt4(ctx context.Context, p Pool, workDir string, size int64, directIO bool, mountOptions string) (*loopExt4, error) {
	l := &loopExt4{pool: p, image: filepath.Join(workDir, "ext4.img"), mnt: filepath.Join(workDir, "mnt")}
	l.mu.Lock()
	defer l.mu.Unlock()
	f, err := os.OpenFile(l.image, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return l, err
	}
	l.made = append(l.made, l.image)
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return l, fmt.Errorf("sparse image %s: %w", l.image, err)
	}
	// Lazy inode tables keep mkfs of a large sparse image under a second.
	if _, err := hostCmd(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", l.image); err != nil {
		return l, err
	}
	losetup := []string{"losetup", "--find", "--show"}
	if directIO {
		losetup = append(losetup, "--direct-io=on")
	}
	out, err := hostCmd(ctx, append(losetup, l.image)...)
	if err != nil {
		return l, err
	}
	l.dev = strings.TrimSpace(out)
	if directIO && !loopDirectIO(l.dev) {
		// losetup falls back to buffered I/O when the image's filesystem
		// refuses O_DIRECT: the results would say what did not happen.
		return l, fmt.Errorf("option loop_direct_io: %s did not switch to direct I/O (the filesystem of %s may not support O_DIRECT); set loop_direct_io = false", l.dev, l.image)
	}
	if err := os.Mkdir(l.mnt, 0o755); err != nil {
		return l, err
	}
	l.made = append(l.made, l.mnt)
	args := []string{"mount", "-t", "ext4"}
	if mountOptions != "" {
		args = append(args, "-o", mountOptions)
	}
	// Recorded first: a mount(8) killed after the kernel mounted still
	// gets unmounted ("not mounted" is fine for teardown).
	l.mounted = true
	if err := poolCmd(ctx, p, append(args, l.dev, l.mnt)...); err != nil {
		return l, err
	}
	// Detach at once: on a mounted device this only sets autoclear, so the
	// device goes with the last mount even if the runner is killed and the
	// pool's namespace dies with our mount in it.
	if _, err := hostCmd(ctx, "losetup", "-d", l.dev); err != nil {
		return l, err
	}
	return l, nil
}

// teardown unmounts the filesystem (lazily if busy, reporting it),
// detaches the loop device if it is still ours and removes the image and
// the mount point. Safe to call more than once and on a nil value.
func (l *loopExt4) teardown(ctx context.Context) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	if l.mounted {
		if err := unmount(ctx, l.pool, l.mnt); err != nil {
			errs = append(errs, err)
		}
		l.mounted = false
	}
	// The device may already be gone (autoclear) and its number reused by
	// someone else: detach only while it is still backed by our image.
	if l.dev != "" && loopBackedBy(l.dev, l.image) {
		// On a device still mounted somewhere, LOOP_CLR_FD only sets
		// autoclear: it detaches when the last mount goes.
		if _, err := hostCmd(ctx, "losetup", "-d", l.dev); err != nil && loopBackedBy(l.dev, l.image) {
			errs = append(errs, err)
		}
	}
	l.dev = ""
	for i := len(l.made) - 1; i >= 0; i-- {
		if err := os.RemoveAll(l.made[i]); err != nil {
			errs = append(errs, err)
		}
	}
	l.made = nil
	return errors.Join(errs...)
}
