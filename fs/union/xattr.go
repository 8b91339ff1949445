package union

import (
	"context"
	"errors"
	"syscall"

	"polytropon/fs"
)

// Getxattr reads an extended attribute of the visible entry (a symbolic
// link's own, as lgetxattr(2)) from the branch that holds it; EOPNOTSUPP when that
// branch has no extended attributes.
func (u *Union) Getxattr(ctx context.Context, name, attr string, dest []byte) (int, error) {
	x, target, err := u.xattrBranch(ctx, "getxattr", name)
	if err != nil {
		return 0, err
	}
	n, err := x.Getxattr(ctx, target, attr, dest)
	return n, perr("getxattr", name, err)
}

// Listxattr lists the extended attributes of the visible entry.
func (u *Union) Listxattr(ctx context.Context, name string, dest []byte) (int, error) {
	x, target, err := u.xattrBranch(ctx, "listxattr", name)
	if err != nil {
		return 0, err
	}
	n, err := x.Listxattr(ctx, target, dest)
	return n, perr("listxattr", name, err)
}

// Setxattr copies the entry up and sets the attribute there.
func (u *Union) Setxattr(ctx context.Context, name, attr string, data []byte, flags int) error {
	ux, ok := u.upper.(fs.Xattrer)
	if !ok {
		return fs.PathError("setxattr", name, syscall.EOPNOTSUPP)
	}
	return u.modify(ctx, "setxattr", name, false, false, func(t string) error {
		return ux.Setxattr(ctx, t, attr, data, flags)
	})
}

// Removexattr copies the entry up and removes the attribute there.
func (u *Union) Removexattr(ctx context.Context, name, attr string) error {
	ux, ok := u.upper.(fs.Xattrer)
	if !ok {
		return fs.PathError("removexattr", name, syscall.EOPNOTSUPP)
	}
	return u.modify(ctx, "removexattr", name, false, false, func(t string) error {
		return ux.Removexattr(ctx, t, attr)
	})
}

func (u *Union) xattrBranch(ctx context.Context, op, name string) (fs.Xattrer, string, error) {
	name, err := u.check(op, name)
	if err != nil {
		return nil, "", err
	}
	name, b, _, err := u.find(ctx, name, false)
	if err != nil {
		return nil, "", perr(op, name, err)
	}
	x, ok := u.branches[b].(fs.Xattrer)
	if !ok {
		return nil, "", fs.PathError(op, name, syscall.EOPNOTSUPP)
	}
	return x, name, nil
}

// Flush flushes every branch that caches (fs.Flusher); with none it has
// nothing to do.
func (u *Union) Flush(ctx context.Context) error {
	var errs []error
	for _, b := range u.branches {
		if f, ok := b.(fs.Flusher); ok {
			errs = append(errs, f.Flush(ctx))
		}
	}
	return errors.Join(errs...)
}

// Drop drops the caches of every branch that has one.
func (u *Union) Drop(ctx context.Context) error {
	var errs []error
	for _, b := range u.branches {
		if f, ok := b.(fs.Flusher); ok {
			errs = append(errs, f.Drop(ctx))
		}
	}
	return errors.Join(errs...)
}
