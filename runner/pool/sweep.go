package pool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/cgroups/v3"
)

// Sweep removes every pool left under the cgroup group (a Spec.Group) by a
// runner that died: it kills their processes, waits for them (at most
// DestroyTimeout) and removes the cgroup directories and the group's empty
// parents. It must not be called for a group a live runner still uses.
// Sweeping a group that does not exist is not an error.
func Sweep(group string) error {
	group = strings.Trim(group, "/")
	for _, part := range strings.Split(group, "/") {
		if !validName.MatchString(part) {
			return fmt.Errorf("%w: Sweep group %q: component %q is not a plain name", ErrInvalidSpec, group, part)
		}
	}
	var mounts []string
	switch cgroupHostMode() {
	case cgroups.Unified:
		mounts = []string{cgroupRoot}
	default:
		for _, n := range v1Controllers {
			mounts = append(mounts, filepath.Join(cgroupRoot, string(n)))
		}
		mounts = append(mounts, unifiedLabel)
	}
	var dirs []string // every cgroup below the group, in every hierarchy
	for _, m := range mounts {
		filepath.WalkDir(filepath.Join(m, group), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
	}
	var errs []error
	deadline := time.Now().Add(DestroyTimeout)
	for i := 0; ; i++ {
		killDirs(dirs)
		empty, err := dirsEmpty(dirs)
		if err == nil && empty {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("pool: sweep %s: processes left after %v (err %v)", group, DestroyTimeout, err))
			break
		}
		sleepBackoff(i)
	}
	for _, m := range mounts {
		if _, err := os.Stat(filepath.Join(m, group)); err == nil {
			errs = append(errs, removeCgroup(m, group))
		}
	}
	return errors.Join(errs...)
}
