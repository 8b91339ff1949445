package union

import (
	"context"
	"strings"
	"sync"
	"syscall"

	"polytropon/fs"
)

// dirCache remembers, per (branch, directory), the union's own markers found
// there (whiteouts, the opaque marker) and, for branch 0 only, the set of
// real names, so that a lookup of a lower file costs no extra call on the
// upper branch. It is valid because lower branches never change while the
// union uses them and branch 0 changes only through this union: every change
// the union makes to branch 0 is followed by a note* call (after the change
// is on disk), which also bumps gen so that a concurrent load that listed the
// directory before the change is dropped instead of stored.
type dirCache struct {
	nameLimit int // directories of branch 0 with more real names keep no name set

	mu  sync.Mutex
	gen uint64              // guarded by mu; bumped by every note*
	m   map[dirKey]*dirInfo // guarded by mu
}

type dirKey struct {
	branch int
	dir    string
}

type dirInfo struct {
	exists    bool                // the directory exists in the branch
	blocked   bool                // a non-directory sits at or above it in the branch
	symlink   bool                // it is a symbolic link in the branch
	opaque    bool                // it holds the opaque marker
	whiteouts map[string]struct{} // names whited out in it
	names     map[string]struct{} // branch 0: every real name; nil = not tracked
}

func (e *dirInfo) addWhiteout(name string) {
	if e.whiteouts == nil {
		e.whiteouts = make(map[string]struct{})
	}
	e.whiteouts[name] = struct{}{}
}

// info runs fn on the cached state of dir in branch, loading it first if
// needed. fn runs under c.mu and must not call back into the cache.
func (u *Union) info(ctx context.Context, branch int, dir string, fn func(*dirInfo)) error {
	c := &u.cache
	k := dirKey{branch, dir}
	c.mu.Lock()
	if e := c.m[k]; e != nil {
		fn(e)
		c.mu.Unlock()
		return nil
	}
	gen := c.gen
	c.mu.Unlock()

	e, err := u.loadDir(ctx, branch, dir)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[k]; cur != nil {
		e = cur
	} else if c.gen == gen {
		c.m[k] = e
	}
	fn(e)
	return nil
}

// loadDir lists dir of a branch for markers (and, in branch 0, names). The
// bottom branch has no markers that matter: only its kind is recorded.
func (u *Union) loadDir(ctx context.Context, branch int, dir string) (*dirInfo, error) {
	e := &dirInfo{}
	br := u.branches[branch]
	if dir != "" {
		st, err := br.Lstat(ctx, dir)
		switch fs.Errno(err) {
		case 0:
			if st.IsSymlink() {
				e.symlink = true
				return e, nil
			}
			if !st.IsDir() {
				e.blocked = true
				return e, nil
			}
		case syscall.ENOENT:
			return e, nil
		case syscall.ENOTDIR:
			e.blocked = true
			return e, nil
		default:
			return nil, err
		}
	}
	if branch == len(u.branches)-1 && branch != 0 {
		e.exists = true
		return e, nil
	}
	if branch == 0 {
		e.names = map[string]struct{}{}
	}
	d, err := br.OpenDir(ctx, dir)
	if err != nil {
		switch fs.Errno(err) {
		case syscall.ENOENT:
			return e, nil // absent: no markers, no names
		case syscall.ENOTDIR:
			e.blocked = true
			return e, nil
		}
		return nil, err
	}
	defer d.Close()
	e.exists = true
	for {
		ents, err := d.ReadDir(1024)
		if err != nil {
			return nil, err
		}
		if len(ents) == 0 {
			return e, nil
		}
		for _, de := range ents {
			switch {
			case de.Name == opaqueName:
				e.opaque = true
			case strings.HasPrefix(de.Name, internalPrefix):
				// temporary file of an unfinished operation
			case strings.HasPrefix(de.Name, whiteoutPrefix):
				e.addWhiteout(de.Name[len(whiteoutPrefix):])
			case e.names != nil:
				e.names[de.Name] = struct{}{}
				if len(e.names) > u.cache.nameLimit {
					e.names = nil
				}
			}
		}
	}
}

// isWhiteout reports whether branch holds a whiteout for dir/name.
func (u *Union) isWhiteout(ctx context.Context, branch int, dir, name string) (bool, error) {
	var wh bool
	err := u.info(ctx, branch, dir, func(e *dirInfo) { _, wh = e.whiteouts[name] })
	return wh, err
}

// isOpaque reports whether dir is an opaque directory of branch.
func (u *Union) isOpaque(ctx context.Context, branch int, dir string) (bool, error) {
	var op bool
	err := u.info(ctx, branch, dir, func(e *dirInfo) { op = e.opaque })
	return op, err
}

// update applies fn to the cached state of dir in branch 0, if any, and
// invalidates loads in flight. A cached "does not exist" entry is dropped,
// since any change inside dir means it exists now.
func (u *Union) update(dir string, fn func(*dirInfo)) {
	c := &u.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	k := dirKey{0, dir}
	e := c.m[k]
	if e == nil {
		return
	}
	if !e.exists {
		delete(c.m, k)
		return
	}
	fn(e)
}

// noteAdded records that branch 0 now has dir/name.
func (u *Union) noteAdded(dir, name string) {
	u.update(dir, func(e *dirInfo) {
		if e.names != nil {
			e.names[name] = struct{}{}
			if len(e.names) > u.cache.nameLimit {
				e.names = nil
			}
		}
	})
}

// noteRemoved records that branch 0 no longer has dir/name.
func (u *Union) noteRemoved(dir, name string) {
	u.update(dir, func(e *dirInfo) {
		if e.names != nil {
			delete(e.names, name)
		}
	})
}

// noteWhiteout records that a whiteout for dir/name was created or removed.
func (u *Union) noteWhiteout(dir, name string, present bool) {
	u.update(dir, func(e *dirInfo) {
		if present {
			e.addWhiteout(name)
		} else {
			delete(e.whiteouts, name)
		}
	})
}

// invalidate forgets dir and everything below it in branch 0 (after a
// directory of branch 0 was created, removed or renamed).
func (u *Union) invalidate(dir string) {
	c := &u.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.m {
		if k.branch == 0 && (dir == "" || k.dir == dir || strings.HasPrefix(k.dir, dir+"/")) {
			delete(c.m, k)
		}
	}
}

// forget drops the cached state of dir alone in branch 0 (after the union
// created dir as a new directory: entries below it stay right, since a new
// directory holds nothing the cache could have seen).
func (u *Union) forget(dir string) {
	c := &u.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.m, dirKey{0, dir})
}
