package union

import (
	"bytes"
	"context"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// copyUp makes sure the visible entry of the cleaned name lives in branch 0
// and returns its attributes there (or the lower ones if nothing had to be
// copied). With dataless, a regular file is copied without its content (the
// caller is about to truncate it to zero).
//
// The copy is built under a temporary internal name and renamed into place
// only when complete, so a failure or crash never shows a partial file; on
// failure the temporary is removed and the lower branch is untouched.
//
// Preconditions: the caller holds u.names for name and does not hold nsMu.
func (u *Union) copyUp(ctx context.Context, name string, dataless bool) (fs.Stat, error) {
	b, st, err := u.lookup(ctx, name)
	if err != nil || b == 0 {
		return st, err
	}
	if st.IsDir() {
		u.nsMu.RLock()
		defer u.nsMu.RUnlock()
		return st, u.copyUpDirs(ctx, name)
	}
	dir, base := fs.Split(name)
	lower := u.branches[b]

	// Phase 1: parents and an empty temporary, under nsMu so that no rmdir
	// or directory rename runs in between.
	tmp := u.tempName(dir)
	var dst fs.File
	var restore func()
	u.nsMu.RLock()
	err = u.copyUpDirs(ctx, dir)
	if err == nil {
		restore = u.parentTimes(ctx, dir)
		switch {
		case st.IsRegular():
			dst, err = u.upper.Open(ctx, tmp, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_EXCL, 0o600)
		case st.IsSymlink():
			var target string
			if target, err = lower.Readlink(ctx, name); err == nil {
				err = u.upper.Symlink(ctx, target, tmp)
			}
		default:
			// Devices, fifos and sockets cannot be created through the
			// libservice API.
			err = fs.PathError("copyup", name, syscall.EOPNOTSUPP)
		}
	}
	u.nsMu.RUnlock()
	if err != nil {
		return st, err
	}

	// Phase 2: data and attributes, holding no union-wide lock.
	fail := func(err error) (fs.Stat, error) {
		if dst != nil {
			dst.Close()
		}
		u.upper.Unlink(context.WithoutCancel(ctx), tmp)
		restore()
		return st, err
	}
	if dst != nil && !dataless {
		if err := u.copyData(ctx, lower, name, dst); err != nil {
			return fail(err)
		}
	}
	if err := u.copyAttrs(ctx, lower, name, tmp, st); err != nil {
		return fail(err)
	}
	if dst != nil {
		if u.syncCopy {
			if err := dst.Sync(false); err != nil {
				return fail(err)
			}
		}
		err := dst.Close()
		dst = nil
		if err != nil {
			return fail(err)
		}
	}

	// Phase 3: publish.
	u.nsMu.RLock()
	err = u.upper.Rename(ctx, tmp, name, renameNoReplace)
	if err == nil {
		restore()
		u.forget(name)
		u.noteAdded(dir, base)
	}
	u.nsMu.RUnlock()
	if err != nil {
		return fail(err)
	}
	return u.upper.Lstat(ctx, name)
}

// copyData copies a regular file's content, leaving all-zero chunks as holes.
func (u *Union) copyData(ctx context.Context, lower fs.Service, name string, dst fs.File) error {
	src, err := lower.Open(ctx, name, syscall.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	buf := make([]byte, u.chunk)
	zero := make([]byte, u.chunk)
	var off int64
	for {
		if err := ctx.Err(); err != nil {
			return fs.PathError("copyup", name, fs.Errno(err))
		}
		n, err := src.Pread(buf, off)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		if !bytes.Equal(buf[:n], zero[:n]) {
			for w := 0; w < n; {
				m, err := dst.Pwrite(buf[w:n], off+int64(w))
				if err != nil {
					return err
				}
				if m == 0 {
					return fs.PathError("copyup", name, syscall.EIO)
				}
				w += m
			}
		}
		off += int64(n)
	}
	// Sets the size when the file ends in a hole.
	return dst.Truncate(off)
}

// copyAttrs gives tmp (in branch 0) the owner, mode, extended attributes and
// times of name in lower. Times go last: the other changes move them.
func (u *Union) copyAttrs(ctx context.Context, lower fs.Service, name, tmp string, st fs.Stat) error {
	if err := u.upper.Chown(ctx, tmp, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if !st.IsSymlink() {
		if err := u.upper.Chmod(ctx, tmp, st.Mode&0o7777); err != nil {
			return err
		}
	}
	if err := u.copyXattrs(ctx, lower, name, tmp); err != nil {
		return err
	}
	return u.upper.Utimens(ctx, tmp, [2]fs.Timespec{st.Atime, st.Mtime}, unix.AT_SYMLINK_NOFOLLOW)
}

// copyXattrs copies extended attributes when both branches have them.
// Attributes branch 0 refuses (security.*, trusted.* without privilege) are
// skipped: the copy is still the best the upper backend can hold.
func (u *Union) copyXattrs(ctx context.Context, lower fs.Service, name, tmp string) error {
	lx, ok1 := lower.(fs.Xattrer)
	ux, ok2 := u.upper.(fs.Xattrer)
	if !ok1 || !ok2 {
		return nil
	}
	list := make([]byte, 64<<10)
	n, err := lx.Listxattr(ctx, name, list)
	if err != nil {
		switch fs.Errno(err) {
		case syscall.EOPNOTSUPP, syscall.ENOSYS:
			return nil
		}
		return err
	}
	val := make([]byte, 64<<10)
	for attr := range bytes.SplitSeq(list[:n], []byte{0}) {
		if len(attr) == 0 {
			continue
		}
		m, err := lx.Getxattr(ctx, name, string(attr), val)
		if err != nil {
			continue // vanished or unreadable here
		}
		if err := ux.Setxattr(ctx, tmp, string(attr), val[:m], 0); err != nil {
			switch fs.Errno(err) {
			case syscall.EOPNOTSUPP, syscall.EPERM, syscall.EACCES, syscall.ENOSYS:
				continue
			}
			return err
		}
	}
	return nil
}

// copyUpDirs makes every directory from the root down to dir exist in
// branch 0, each created with the mode, owner and times of the visible lower
// directory. Two racing copy-ups of the same directory both succeed: the
// loser's temporary is removed.
//
// Preconditions: the caller holds nsMu (for reading or writing).
func (u *Union) copyUpDirs(ctx context.Context, dir string) error {
	if dir == "" {
		return nil
	}
	cur, rest := "", dir
	for {
		elem, after, more := cutSlash(rest)
		cur = join(cur, elem)
		if err := u.copyUpDir(ctx, cur); err != nil {
			return err
		}
		if !more {
			return nil
		}
		rest = after
	}
}

func (u *Union) copyUpDir(ctx context.Context, name string) error {
	b, st, err := u.lookup(ctx, name)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fs.PathError("copyup", name, syscall.ENOTDIR)
	}
	if b == 0 {
		return nil
	}
	parent, base := fs.Split(name)
	tmp := u.tempName(parent)
	restore := u.parentTimes(ctx, parent)
	defer restore()
	if err := u.upper.Mkdir(ctx, tmp, 0o700); err != nil {
		return err
	}
	err = u.copyAttrs(ctx, u.branches[b], name, tmp, st)
	if err == nil {
		err = u.upper.Rename(ctx, tmp, name, renameNoReplace)
		if fs.Errno(err) == syscall.EEXIST {
			// Another copy-up of this directory won.
			u.upper.Rmdir(ctx, tmp)
			return nil
		}
	}
	if err != nil {
		u.upper.Rmdir(context.WithoutCancel(ctx), tmp)
		return err
	}
	u.forget(name)
	u.noteAdded(parent, base)
	return nil
}

// parentTimes records the times of dir in branch 0 and returns the function
// that puts them back: a copy-up is not a change of the directory, so, as in
// overlayfs, it must not move the parent's mtime.
func (u *Union) parentTimes(ctx context.Context, dir string) (restore func()) {
	st, err := u.upper.Lstat(ctx, dir)
	if err != nil {
		return func() {}
	}
	return func() {
		u.upper.Utimens(ctx, dir, [2]fs.Timespec{st.Atime, st.Mtime}, unix.AT_SYMLINK_NOFOLLOW)
	}
}
