package local

import (
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// dirCache keeps O_PATH descriptors of directories, each resolved once with
// openat2 and RESOLVE_IN_ROOT, so that stat of a nested name costs a single
// fstatat(dirfd, base, AT_SYMLINK_NOFOLLOW) instead of a confined walk plus
// fstat plus close (about 2.3x a plain stat(2) here, docs/bench-fs.md).
//
// Only Stat and Lstat use it, and only with AT_SYMLINK_NOFOLLOW: a final
// symlink still takes the confined path, so the cache never follows a link.
// The name -> directory mapping changes by rename or rmdir, which run under
// mu held for writing and empty the cache, and by unlink of a symlink that a
// cached name was resolved through, which runs under mu and drops the names
// at or below it (unlink cannot remove a directory, so any cached name there
// went through a link). No stat observes a stale mapping made by this
// service. The service assumes it owns its root: a
// directory renamed by another process behind its back may be found under
// its old name until the next rename or rmdir through this service (it is
// still inside the root unless someone outside moved it out of the tree).
//
// Lock order: Local.closeMu, then dirCache.mu.
type dirCache struct {
	mu  sync.RWMutex
	fds map[string]int // cleaned directory name -> O_PATH descriptor
}

// maxCachedDirs bounds the descriptors the cache holds; past it the cache
// starts over (the working set of a benchmark or a tenant's hot directories
// is far smaller).
const maxCachedDirs = 256

// fstatat stats base in the cached directory dir with AT_SYMLINK_NOFOLLOW.
// ok is false when dir is not cached.
func (c *dirCache) fstatat(dir, base string, st *unix.Stat_t) (ok bool, err error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	fd, ok := c.fds[dir]
	if !ok {
		return false, nil
	}
	return true, retry(func() error { return unix.Fstatat(fd, base, st, unix.AT_SYMLINK_NOFOLLOW) })
}

// add resolves dir under root and caches it.
func (c *dirCache) add(root int, dir string) error {
	fd, err := openIn(root, dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, dup := c.fds[dir]; dup {
		unix.Close(fd)
		return nil
	}
	if len(c.fds) >= maxCachedDirs || c.fds == nil {
		c.resetLocked()
	}
	c.fds[dir] = fd
	return nil
}

// changing runs a namespace change (rename, rmdir) with the cache locked
// and emptied, so no stat sees a mapping from before it.
func (c *dirCache) changing(f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
	return f()
}

// unlinking runs the unlink of name with the cache locked, dropping the
// cached directories at or below name.
func (c *dirCache) unlinking(name string, f func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for dir, fd := range c.fds {
		if dir == name || strings.HasPrefix(dir, name+"/") {
			unix.Close(fd)
			delete(c.fds, dir)
		}
	}
	return f()
}

// reset closes every cached descriptor.
func (c *dirCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resetLocked()
}

func (c *dirCache) resetLocked() {
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	c.fds = make(map[string]int)
}
