package union

import (
	"context"
	"errors"
	"syscall"

	"polytropon/fs"
)

// errRetry asks Rename to start over: the entry changed type meanwhile.
var errRetry = errors.New("union: retry")

// Rename renames within the merged view. A file (upper or lower) is copied
// up and renamed in branch 0, and a whiteout hides a lower original. A
// directory that exists only in branch 0 is renamed there; one with content
// in a lower branch fails with EXDEV (see the package documentation), which
// mv(1) and similar tools answer by copying. RENAME_NOREPLACE is checked
// against the merged view; other flags fail with EINVAL.
func (u *Union) Rename(ctx context.Context, oldname, newname string, flags uint32) error {
	oldname, err := u.enter(ctx, "rename", oldname)
	if err != nil {
		return err
	}
	newname, err = u.enter(ctx, "rename", newname)
	if err != nil {
		return err
	}
	if flags&^renameNoReplace != 0 {
		return fs.PathError("rename", oldname, syscall.EINVAL)
	}
	noReplace := flags&renameNoReplace != 0
	switch {
	case oldname == "" || newname == "":
		return fs.PathError("rename", oldname, syscall.EBUSY)
	case isAncestor(oldname, newname):
		return fs.PathError("rename", newname, syscall.EINVAL)
	case isAncestor(newname, oldname):
		if noReplace {
			return fs.PathError("rename", newname, syscall.EEXIST)
		}
		return fs.PathError("rename", newname, syscall.ENOTEMPTY)
	}
	for range 8 {
		_, st, err := u.lookup(ctx, oldname)
		if err != nil {
			return perr("rename", oldname, err)
		}
		if oldname == newname {
			if noReplace {
				return fs.PathError("rename", newname, syscall.EEXIST)
			}
			return nil
		}
		if st.IsDir() {
			err = u.renameDir(ctx, oldname, newname, noReplace)
		} else {
			err = u.renameFile(ctx, oldname, newname, noReplace)
		}
		if err != errRetry {
			return err
		}
	}
	return fs.PathError("rename", oldname, syscall.EAGAIN)
}

func (u *Union) renameFile(ctx context.Context, oldname, newname string, noReplace bool) error {
	unlock := u.names.lock(oldname, newname)
	defer unlock()
	ob, ost, err := u.lookup(ctx, oldname)
	if err != nil {
		return perr("rename", oldname, err)
	}
	if ost.IsDir() {
		return errRetry
	}
	nb, nst, nerr := u.lookup(ctx, newname)
	switch {
	case nerr == nil && noReplace:
		return fs.PathError("rename", newname, syscall.EEXIST)
	case nerr == nil && nst.IsDir():
		return fs.PathError("rename", newname, syscall.EISDIR)
	case nerr == nil && ob == nb && ost.Dev == nst.Dev && ost.Ino == nst.Ino:
		return nil // the same file: rename(2) does nothing
	case nerr != nil && fs.Errno(nerr) != syscall.ENOENT:
		return perr("rename", newname, nerr)
	}
	if _, err := u.copyUp(ctx, oldname, false); err != nil {
		return perr("rename", oldname, err)
	}
	u.nsMu.RLock()
	defer u.nsMu.RUnlock()
	newWhiteout := false
	ndir, nbase := fs.Split(newname)
	if nerr != nil {
		newWhiteout, err = u.prepareCreate(ctx, newname)
	} else {
		err = u.copyUpDirs(ctx, ndir)
	}
	if err != nil {
		return perr("rename", newname, err)
	}
	added, err := u.hideLower(ctx, oldname)
	if err != nil {
		return perr("rename", oldname, err)
	}
	if err := u.upper.Rename(ctx, oldname, newname, 0); err != nil {
		if added {
			u.removeWhiteout(context.WithoutCancel(ctx), oldname)
		}
		return perr("rename", oldname, err)
	}
	odir, obase := fs.Split(oldname)
	u.forget(oldname)
	u.forget(newname)
	u.noteRemoved(odir, obase)
	u.noteAdded(ndir, nbase)
	if newWhiteout {
		u.removeWhiteout(ctx, newname)
	}
	return nil
}

// hideLower adds a whiteout for name when a lower branch would show it once
// branch 0's entry is gone, and reports whether it added one.
//
// Preconditions: the caller holds nsMu.
func (u *Union) hideLower(ctx context.Context, name string) (added bool, err error) {
	lower, err := u.lowerVisible(ctx, name)
	if err != nil || !lower {
		return false, err
	}
	dir, base := fs.Split(name)
	if wh, err := u.isWhiteout(ctx, 0, dir, base); err != nil || wh {
		return false, err
	}
	return true, u.addWhiteout(ctx, name)
}

func (u *Union) renameDir(ctx context.Context, oldname, newname string, noReplace bool) error {
	u.nsMu.Lock()
	defer u.nsMu.Unlock()
	ob, ost, err := u.lookup(ctx, oldname)
	if err != nil {
		return perr("rename", oldname, err)
	}
	if !ost.IsDir() {
		return errRetry
	}
	brs, err := u.dirBranches(ctx, ob, oldname)
	if err != nil {
		return perr("rename", oldname, err)
	}
	if ob != 0 || len(brs) > 1 {
		return fs.PathError("rename", oldname, syscall.EXDEV)
	}
	nb, nst, nerr := u.lookup(ctx, newname)
	ndir, nbase := fs.Split(newname)
	switch {
	case nerr == nil && noReplace:
		return fs.PathError("rename", newname, syscall.EEXIST)
	case nerr == nil && !nst.IsDir():
		return fs.PathError("rename", newname, syscall.ENOTDIR)
	case nerr == nil:
		empty, err := u.mergedEmpty(ctx, nb, newname)
		if err != nil {
			return perr("rename", newname, err)
		}
		if !empty {
			return fs.PathError("rename", newname, syscall.ENOTEMPTY)
		}
		err = u.copyUpDirs(ctx, ndir)
		if err != nil {
			return perr("rename", newname, err)
		}
	case fs.Errno(nerr) != syscall.ENOENT:
		return perr("rename", newname, nerr)
	default:
		if _, err := u.prepareCreate(ctx, newname); err != nil {
			return perr("rename", newname, err)
		}
	}
	newLower, err := u.lowerVisible(ctx, newname)
	if err != nil {
		return perr("rename", newname, err)
	}
	if newLower {
		// The moved directory must keep hiding what the lower branches
		// hold at its new name.
		if op, err := u.isOpaque(ctx, 0, oldname); err != nil {
			return perr("rename", oldname, err)
		} else if !op {
			err := u.markOpaque(ctx, oldname)
			u.invalidate(oldname)
			if err != nil {
				return perr("rename", oldname, err)
			}
		}
	}
	if nerr == nil && nb == 0 {
		// Replace a branch 0 directory that holds only markers.
		if newLower {
			if err := u.addWhiteout(ctx, newname); err != nil {
				return perr("rename", newname, err)
			}
		}
		err := u.removeUpperDir(ctx, newname)
		u.invalidate(newname)
		if err != nil {
			return perr("rename", newname, err)
		}
	}
	if _, err := u.hideLower(ctx, oldname); err != nil {
		return perr("rename", oldname, err)
	}
	err = u.upper.Rename(ctx, oldname, newname, 0)
	u.invalidate(oldname)
	u.invalidate(newname)
	if err != nil {
		return perr("rename", oldname, err)
	}
	odir, obase := fs.Split(oldname)
	u.noteRemoved(odir, obase)
	u.noteAdded(ndir, nbase)
	if wh, _ := u.isWhiteout(ctx, 0, ndir, nbase); wh {
		return perr("rename", newname, u.removeWhiteout(ctx, newname))
	}
	return nil
}
