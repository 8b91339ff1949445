package union

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

const renameNoReplace = unix.RENAME_NOREPLACE

func cutSlash(s string) (before, after string, found bool) { return strings.Cut(s, "/") }

// perr rewraps an internal error as the failure of op on name.
func perr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fs.PathError(op, name, fs.Errno(err))
}

// enter checks a caller's name for a call that changes it and returns its
// canonical form: directory components that are symbolic links (in any
// branch) are resolved through the merged view. A final symbolic link is
// kept, and a missing final component is not an error here.
func (u *Union) enter(ctx context.Context, op, name string) (string, error) {
	name, err := u.check(op, name)
	if err != nil {
		return name, err
	}
	for i := range u.branches {
		res, err := u.probe(ctx, i, name)
		if err != nil {
			return name, perr(op, name, err)
		}
		if res == probeSymlink {
			links := 0
			canon, _, _, err := u.walk(ctx, "", name, false, &links)
			if err != nil && fs.Errno(err) != syscall.ENOENT {
				return name, perr(op, name, err)
			}
			return canon, nil
		}
	}
	return name, nil
}

// isWrite reports whether open flags may modify the file.
func isWrite(flags int) bool {
	return flags&syscall.O_ACCMODE != syscall.O_RDONLY || flags&(syscall.O_TRUNC|syscall.O_APPEND) != 0
}

// Open opens a visible file, copying a lower file up first when the open may
// write it, or creates the file in branch 0. A read-only open of a lower file
// returns the lower branch's own handle.
func (u *Union) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	name, err := u.check("open", name)
	if err != nil {
		return nil, err
	}
	create := flags&syscall.O_CREAT != 0
	excl := create && flags&syscall.O_EXCL != 0
	follow := flags&syscall.O_NOFOLLOW == 0 && !excl
	if !create && !isWrite(flags) {
		if f, done, err := u.openDirect(ctx, name, flags); done {
			return f, perr("open", name, err)
		}
	}
	for range 8 {
		target, b, st, err := u.find(ctx, name, follow)
		if err == nil {
			if excl {
				return nil, fs.PathError("open", name, syscall.EEXIST)
			}
			if b == 0 {
				f, err := u.upper.Open(ctx, target, flags&^(syscall.O_CREAT|syscall.O_EXCL), mode)
				if fs.Errno(err) == syscall.ENOENT {
					continue // removed meanwhile: look again
				}
				return f, perr("open", name, err)
			}
			if st.IsSymlink() && isWrite(flags) {
				// Only O_NOFOLLOW gets here with a link: open(2) says ELOOP.
				return nil, fs.PathError("open", name, syscall.ELOOP)
			}
			if !isWrite(flags) || st.IsSymlink() {
				f, err := u.branches[b].Open(ctx, target, flags&^(syscall.O_CREAT|syscall.O_EXCL), mode)
				return f, perr("open", name, err)
			}
			if st.IsDir() {
				return nil, fs.PathError("open", name, syscall.EISDIR)
			}
			f, err := u.openCopyUp(ctx, target, flags, mode)
			if fs.Errno(err) == syscall.ENOENT {
				continue
			}
			return f, perr("open", name, err)
		}
		if fs.Errno(err) != syscall.ENOENT || !create {
			return nil, perr("open", name, err)
		}
		if target == "" {
			return nil, fs.PathError("open", name, syscall.EISDIR)
		}
		f, err := u.create(ctx, target, flags, mode)
		if fs.Errno(err) == syscall.EEXIST && !excl {
			continue // created meanwhile: open what is there
		}
		return f, perr("open", name, err)
	}
	return nil, fs.PathError("open", name, syscall.EAGAIN)
}

// openDirect is the fast path of a read-only open: it opens the name in
// the first branch that may hold it, with O_NOFOLLOW, instead of asking
// that branch for its attributes first. done is false when the slow path
// must decide (a symbolic link on the way or at the end).
func (u *Union) openDirect(ctx context.Context, name string, flags int) (f fs.File, done bool, err error) {
	last := len(u.branches) - 1
	for i := 0; i <= last; i++ {
		res, err := u.probe(ctx, i, name)
		if err != nil || res == probeSymlink || res == probeNotDir {
			return nil, false, nil
		}
		if res == probeAsk {
			f, err := u.branches[i].Open(ctx, name, flags|syscall.O_NOFOLLOW, 0)
			switch fs.Errno(err) {
			case 0:
				return f, true, nil
			case syscall.ENOENT:
			case syscall.ELOOP:
				if flags&syscall.O_NOFOLLOW != 0 {
					return nil, true, err
				}
				return nil, false, nil
			default:
				return nil, true, err
			}
		}
		if i == last {
			break
		}
		hidden, err := u.hiddenIn(ctx, i, name, true)
		if err != nil {
			return nil, false, nil
		}
		if hidden {
			return nil, true, fs.PathError("open", name, syscall.ENOENT)
		}
	}
	return nil, true, fs.PathError("open", name, syscall.ENOENT)
}

// openCopyUp copies name up (without data when the open truncates) and opens
// the copy, holding the name lock so the copy cannot vanish in between.
func (u *Union) openCopyUp(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	unlock := u.names.lock(name)
	defer unlock()
	if _, err := u.copyUp(ctx, name, flags&syscall.O_TRUNC != 0); err != nil {
		return nil, err
	}
	return u.upper.Open(ctx, name, flags&^(syscall.O_CREAT|syscall.O_EXCL), mode)
}

// create makes a new regular file in branch 0; EEXIST if name became
// visible meanwhile.
func (u *Union) create(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	unlock := u.names.lock(name)
	defer unlock()
	u.nsMu.RLock()
	defer u.nsMu.RUnlock()
	wh, err := u.prepareCreate(ctx, name)
	if err != nil {
		return nil, err
	}
	f, err := u.upper.Open(ctx, name, flags|syscall.O_CREAT|syscall.O_EXCL, mode)
	if err != nil {
		return nil, err
	}
	u.finishCreate(ctx, name, wh)
	return f, nil
}

// prepareCreate checks that the cleaned name is free in the merged view and
// its parent is a directory, copies the parent up, and reports whether
// branch 0 holds a whiteout for the name.
//
// Preconditions: the caller holds u.names for name and nsMu.
func (u *Union) prepareCreate(ctx context.Context, name string) (whiteout bool, err error) {
	if _, _, err := u.lookup(ctx, name); err == nil {
		return false, fs.PathError("create", name, syscall.EEXIST)
	} else if fs.Errno(err) != syscall.ENOENT {
		return false, err
	}
	dir, base := fs.Split(name)
	_, pst, err := u.lookup(ctx, dir)
	if err != nil {
		return false, err
	}
	if !pst.IsDir() {
		return false, fs.PathError("create", name, syscall.ENOTDIR)
	}
	if err := u.copyUpDirs(ctx, dir); err != nil {
		return false, err
	}
	return u.isWhiteout(ctx, 0, dir, base)
}

// finishCreate records a name just created in branch 0 and drops a whiteout
// it replaces (the new name hides the lower one by itself).
//
// Preconditions: the caller holds u.names for name and nsMu.
func (u *Union) finishCreate(ctx context.Context, name string, whiteout bool) {
	dir, base := fs.Split(name)
	u.forget(name)
	u.noteAdded(dir, base)
	if whiteout {
		if err := u.upper.Unlink(ctx, whiteoutOf(dir, base)); err == nil {
			u.noteWhiteout(dir, base, false)
		}
	}
}

// lowerVisible reports whether a lower branch would show something at the
// cleaned name if branch 0 had neither an entry nor a whiteout for it: then
// removing the name needs a whiteout.
func (u *Union) lowerVisible(ctx context.Context, name string) (bool, error) {
	if len(u.branches) == 1 || name == "" {
		return false, nil
	}
	hidden, err := u.hiddenIn(ctx, 0, name, false)
	if err != nil || hidden {
		return false, err
	}
	_, _, err = u.lookupFrom(ctx, 1, name)
	switch fs.Errno(err) {
	case 0:
		return true, nil
	case syscall.ENOENT, syscall.ENOTDIR:
		return false, nil
	}
	return false, err
}

// addWhiteout creates the whiteout for name in branch 0, copying its parent
// up first.
//
// Preconditions: the caller holds nsMu.
func (u *Union) addWhiteout(ctx context.Context, name string) error {
	dir, base := fs.Split(name)
	if err := u.copyUpDirs(ctx, dir); err != nil {
		return err
	}
	if wh, err := u.isWhiteout(ctx, 0, dir, base); err != nil || wh {
		return err
	}
	f, err := u.upper.Open(ctx, whiteoutOf(dir, base), syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	u.noteWhiteout(dir, base, true)
	return nil
}

// removeWhiteout drops the whiteout for name from branch 0, if any.
func (u *Union) removeWhiteout(ctx context.Context, name string) error {
	dir, base := fs.Split(name)
	err := u.upper.Unlink(ctx, whiteoutOf(dir, base))
	if err != nil && fs.Errno(err) != syscall.ENOENT {
		return err
	}
	u.noteWhiteout(dir, base, false)
	return nil
}

// Stat returns the attributes of the visible entry, following symbolic links
// through the merged view. st_ino and st_dev are those of the branch holding
// the entry.
func (u *Union) Stat(ctx context.Context, name string) (fs.Stat, error) {
	name, err := u.check("stat", name)
	if err != nil {
		return fs.Stat{}, err
	}
	_, _, st, err := u.find(ctx, name, true)
	return st, perr("stat", name, err)
}

// Lstat is Stat without following a final symbolic link.
func (u *Union) Lstat(ctx context.Context, name string) (fs.Stat, error) {
	name, err := u.check("lstat", name)
	if err != nil {
		return fs.Stat{}, err
	}
	_, _, st, err := u.find(ctx, name, false)
	return st, perr("lstat", name, err)
}

// Mkdir creates a directory in branch 0. Over a whiteout the new directory
// is opaque, so that the deleted lower directory's content stays deleted.
func (u *Union) Mkdir(ctx context.Context, name string, mode uint32) error {
	return u.createName(ctx, "mkdir", name, func(name string, whiteout bool) error {
		if whiteout {
			return u.mkdirOpaque(ctx, name, mode)
		}
		return u.upper.Mkdir(ctx, name, mode)
	})
}

// createName creates the new entry name (a directory or a symbolic link)
// in branch 0 with mk, under the name lock and the namespace read lock,
// once prepareCreate found the name free; whiteout tells mk that a
// whiteout hides a deleted lower name there.
func (u *Union) createName(ctx context.Context, op, name string, mk func(name string, whiteout bool) error) error {
	name, err := u.enter(ctx, op, name)
	if err != nil {
		return err
	}
	if name == "" {
		return fs.PathError(op, name, syscall.EEXIST)
	}
	unlock := u.names.lock(name)
	defer unlock()
	u.nsMu.RLock()
	defer u.nsMu.RUnlock()
	wh, err := u.prepareCreate(ctx, name)
	if err != nil {
		return perr(op, name, err)
	}
	if err := mk(name, wh); err != nil {
		return perr(op, name, err)
	}
	u.finishCreate(ctx, name, wh)
	return nil
}

// mkdirOpaque creates an opaque directory in one step: it is built under a
// temporary name with its marker and renamed into place.
func (u *Union) mkdirOpaque(ctx context.Context, name string, mode uint32) error {
	dir, _ := fs.Split(name)
	tmp := u.tempName(dir)
	if err := u.upper.Mkdir(ctx, tmp, mode); err != nil {
		return err
	}
	err := u.markOpaque(ctx, tmp)
	if err == nil {
		err = u.upper.Rename(ctx, tmp, name, renameNoReplace)
	}
	if err != nil {
		u.removeUpperTree(context.WithoutCancel(ctx), tmp)
	}
	return err
}

func (u *Union) markOpaque(ctx context.Context, dir string) error {
	f, err := u.upper.Open(ctx, join(dir, opaqueName), syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// Rmdir removes a directory that is empty in the merged view, leaving a
// whiteout when a lower branch has the name.
func (u *Union) Rmdir(ctx context.Context, name string) error {
	name, err := u.enter(ctx, "rmdir", name)
	if err != nil {
		return err
	}
	if name == "" {
		return fs.PathError("rmdir", name, syscall.EBUSY)
	}
	u.nsMu.Lock()
	defer u.nsMu.Unlock()
	b, st, err := u.lookup(ctx, name)
	if err != nil {
		return perr("rmdir", name, err)
	}
	if !st.IsDir() {
		return fs.PathError("rmdir", name, syscall.ENOTDIR)
	}
	empty, err := u.mergedEmpty(ctx, b, name)
	if err != nil {
		return perr("rmdir", name, err)
	}
	if !empty {
		return fs.PathError("rmdir", name, syscall.ENOTEMPTY)
	}
	return perr("rmdir", name, u.removeMerged(ctx, b, name))
}

// removeMerged removes the visible entry of name (found in branch b): a
// whiteout first when lower branches have it, then the branch 0 entry.
//
// Preconditions: the caller holds nsMu for writing, or for reading plus
// u.names for name when name is not a directory.
func (u *Union) removeMerged(ctx context.Context, b int, name string) error {
	lower, err := u.lowerVisible(ctx, name)
	if err != nil {
		return err
	}
	if lower {
		if err := u.addWhiteout(ctx, name); err != nil {
			return err
		}
	}
	if b != 0 {
		return nil
	}
	dir, base := fs.Split(name)
	st, err := u.upper.Lstat(ctx, name)
	if err != nil {
		return err
	}
	if st.IsDir() {
		err = u.removeUpperDir(ctx, name)
		u.invalidate(name)
	} else {
		err = u.upper.Unlink(ctx, name)
		u.forget(name)
	}
	if err != nil {
		return err
	}
	u.noteRemoved(dir, base)
	return nil
}

// removeUpperDir removes a directory of branch 0 that holds only the
// union's markers: it is first renamed to a temporary name, so that it
// vanishes in one step, then emptied.
func (u *Union) removeUpperDir(ctx context.Context, name string) error {
	err := u.upper.Rmdir(ctx, name)
	if fs.Errno(err) != syscall.ENOTEMPTY && fs.Errno(err) != syscall.EEXIST {
		return err
	}
	dir, _ := fs.Split(name)
	tmp := u.tempName(dir)
	if err := u.upper.Rename(ctx, name, tmp, renameNoReplace); err != nil {
		return err
	}
	return u.removeUpperTree(ctx, tmp)
}

// removeUpperTree removes a tree of branch 0 that no caller can name.
func (u *Union) removeUpperTree(ctx context.Context, name string) error {
	d, err := u.upper.OpenDir(ctx, name)
	if err != nil {
		return err
	}
	var errs []error
	for {
		ents, err := d.ReadDir(256)
		if err != nil {
			errs = append(errs, err)
			break
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			p := join(name, e.Name)
			err := u.upper.Unlink(ctx, p)
			if fs.Errno(err) == syscall.EISDIR || fs.Errno(err) == syscall.EPERM {
				err = u.removeUpperTree(ctx, p)
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	d.Close()
	if err := u.upper.Rmdir(ctx, name); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// mergedEmpty reports whether the merged directory shows no entry.
func (u *Union) mergedEmpty(ctx context.Context, top int, name string) (bool, error) {
	brs, err := u.dirBranches(ctx, top, name)
	if err != nil {
		return false, err
	}
	d := &mergedDir{u: u, ctx: ctx, name: name, branches: brs}
	defer d.Close()
	ents, err := d.ReadDir(1)
	return len(ents) == 0, err
}

// Unlink removes a non-directory, leaving a whiteout when a lower branch has
// the name.
func (u *Union) Unlink(ctx context.Context, name string) error {
	name, err := u.enter(ctx, "unlink", name)
	if err != nil {
		return err
	}
	if name == "" {
		return fs.PathError("unlink", name, syscall.EISDIR)
	}
	unlock := u.names.lock(name)
	defer unlock()
	u.nsMu.RLock()
	defer u.nsMu.RUnlock()
	b, st, err := u.lookup(ctx, name)
	if err != nil {
		return perr("unlink", name, err)
	}
	if st.IsDir() {
		return fs.PathError("unlink", name, syscall.EISDIR)
	}
	return perr("unlink", name, u.removeMerged(ctx, b, name))
}

// Symlink creates a symbolic link in branch 0. The target is not checked:
// it is resolved when used.
func (u *Union) Symlink(ctx context.Context, target, linkname string) error {
	return u.createName(ctx, "symlink", linkname, func(name string, _ bool) error {
		return u.upper.Symlink(ctx, target, name)
	})
}

// Readlink reads the visible symbolic link.
func (u *Union) Readlink(ctx context.Context, name string) (string, error) {
	name, err := u.check("readlink", name)
	if err != nil {
		return "", err
	}
	name, b, st, err := u.find(ctx, name, false)
	if err != nil {
		return "", perr("readlink", name, err)
	}
	if !st.IsSymlink() {
		return "", fs.PathError("readlink", name, syscall.EINVAL)
	}
	s, err := u.branches[b].Readlink(ctx, name)
	return s, perr("readlink", name, err)
}

// Link makes a hard link in branch 0, copying a lower oldname up first (the
// link then shares the copy, not the lower file).
func (u *Union) Link(ctx context.Context, oldname, newname string) error {
	oldname, err := u.enter(ctx, "link", oldname)
	if err != nil {
		return err
	}
	newname, err = u.enter(ctx, "link", newname)
	if err != nil {
		return err
	}
	unlock := u.names.lock(oldname, newname)
	defer unlock()
	_, st, err := u.lookup(ctx, oldname)
	if err != nil {
		return perr("link", oldname, err)
	}
	if st.IsDir() {
		return fs.PathError("link", oldname, syscall.EPERM)
	}
	if _, _, err := u.lookup(ctx, newname); err == nil {
		return fs.PathError("link", newname, syscall.EEXIST)
	} else if fs.Errno(err) != syscall.ENOENT {
		return perr("link", newname, err)
	}
	if _, err := u.copyUp(ctx, oldname, false); err != nil {
		return perr("link", oldname, err)
	}
	u.nsMu.RLock()
	defer u.nsMu.RUnlock()
	wh, err := u.prepareCreate(ctx, newname)
	if err != nil {
		return perr("link", newname, err)
	}
	if err := u.upper.Link(ctx, oldname, newname); err != nil {
		return perr("link", newname, err)
	}
	u.finishCreate(ctx, newname, wh)
	return nil
}

// modify copies the entry of name up (following a final symbolic link when
// follow is set) and runs fn on it in branch 0, holding the name lock.
func (u *Union) modify(ctx context.Context, op, name string, follow, dataless bool, fn func(target string) error) error {
	name, err := u.check(op, name)
	if err != nil {
		return err
	}
	target, _, _, err := u.find(ctx, name, follow)
	if err != nil {
		return perr(op, name, err)
	}
	unlock := u.names.lock(target)
	defer unlock()
	if _, err := u.copyUp(ctx, target, dataless); err != nil {
		return perr(op, name, err)
	}
	return perr(op, name, fn(target))
}

// Chmod copies the file up and changes its mode.
func (u *Union) Chmod(ctx context.Context, name string, mode uint32) error {
	return u.modify(ctx, "chmod", name, true, false, func(t string) error {
		return u.upper.Chmod(ctx, t, mode)
	})
}

// Chown copies the file up and changes its owner.
func (u *Union) Chown(ctx context.Context, name string, uid, gid int, flags int) error {
	return u.modify(ctx, "chown", name, flags&unix.AT_SYMLINK_NOFOLLOW == 0, false, func(t string) error {
		return u.upper.Chown(ctx, t, uid, gid, flags)
	})
}

// Utimens copies the file up and changes its times.
func (u *Union) Utimens(ctx context.Context, name string, times [2]fs.Timespec, flags int) error {
	return u.modify(ctx, "utimens", name, flags&unix.AT_SYMLINK_NOFOLLOW == 0, false, func(t string) error {
		return u.upper.Utimens(ctx, t, times, flags)
	})
}

// Truncate copies the file up (without data when truncating to zero) and
// truncates it.
func (u *Union) Truncate(ctx context.Context, name string, size int64) error {
	if size < 0 {
		return fs.PathError("truncate", name, syscall.EINVAL)
	}
	return u.modify(ctx, "truncate", name, true, size == 0, func(t string) error {
		return u.upper.Truncate(ctx, t, size)
	})
}

// Access checks the visible entry in the branch that holds it. Write access
// to a lower entry is judged by that branch except that a read-only lower
// backend (EROFS) does not count: the union would copy the entry up.
func (u *Union) Access(ctx context.Context, name string, mode uint32) error {
	name, err := u.check("access", name)
	if err != nil {
		return err
	}
	target, b, _, err := u.find(ctx, name, true)
	if err != nil {
		return perr("access", name, err)
	}
	err = u.branches[b].Access(ctx, target, mode)
	if b != 0 && fs.Errno(err) == syscall.EROFS {
		err = u.branches[b].Access(ctx, target, mode&^unix.W_OK)
	}
	return perr("access", name, err)
}
