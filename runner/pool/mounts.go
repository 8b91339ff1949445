package pool

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountPath(fields[4]) == dir {
			return true, nil
		}
	}
	return false, sc.Err()
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for space...).
func unescapeMountPath(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
