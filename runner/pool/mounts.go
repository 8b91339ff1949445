package pool

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"

	"polytropon/fs/mountinfo"
)

// ShareMounts makes dir (the run's work directory) a shared mount point:
// bind-mounted onto itself when it is not a mount point yet, then marked
// shared. Pools created afterwards see the mounts the runner makes below
// dir later (a pool's tree is a slave of the host's), while the pools'
// own mounts stay inside. release undoes the bind mount (lazily: pools may
// still hold copies). Call it once per run, before the first Create.
func ShareMounts(dir string) (release func() error, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.EvalSymlinks(dir); err != nil {
		return nil, fmt.Errorf("pool: share mounts: %w", err)
	}
	isMount, err := isMountPoint(dir)
	if err != nil {
		return nil, err
	}
	bound := false
	if !isMount {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return nil, fmt.Errorf("pool: bind %s onto itself: %w", dir, err)
		}
		bound = true
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		if bound {
			unix.Unmount(dir, unix.MNT_DETACH)
		}
		return nil, fmt.Errorf("pool: make %s shared: %w", dir, err)
	}
	return func() error {
		if !bound {
			return nil
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && err != unix.EINVAL {
			return fmt.Errorf("pool: unmount %s: %w", dir, err)
		}
		return nil
	}, nil
}

// isMountPoint reports whether dir is the mount point of some mount.
func isMountPoint(dir string) (bool, error) {
	return mountinfo.Mounted("/proc/self/mountinfo", dir)
}
