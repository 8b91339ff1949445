//go:build ceph && cgo

package cephfs

import (
	"context"
	"syscall"

	ceph "github.com/ceph/go-ceph/cephfs"

	"polytropon/fs"
)

// Getxattr implements fs.Xattrer with lgetxattr(2)'s size protocol: an empty
// dest asks for the size; a short one fails with ERANGE.
func (f *FS) Getxattr(_ context.Context, name, attr string, dest []byte) (int, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("getxattr", name, false)
	if err != nil {
		return 0, err
	}
	if attr == "" {
		return 0, fs.PathError("getxattr", name, syscall.EINVAL)
	}
	v, err := f.mount.LgetXattr(p, attr)
	if err != nil {
		return 0, pathErr("getxattr", name, err)
	}
	return fill(dest, v, "getxattr", name)
}

// Setxattr implements fs.Xattrer like lsetxattr(2) (flags XATTR_CREATE, XATTR_REPLACE).
func (f *FS) Setxattr(_ context.Context, name, attr string, data []byte, flags int) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("setxattr", name, false)
	if err != nil {
		return err
	}
	if attr == "" {
		return fs.PathError("setxattr", name, syscall.EINVAL)
	}
	return pathErr("setxattr", name, f.mount.LsetXattr(p, attr, data, ceph.XattrFlags(flags)))
}

// Listxattr implements fs.Xattrer: NUL-terminated names, size protocol as
// Getxattr.
func (f *FS) Listxattr(_ context.Context, name string, dest []byte) (int, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("listxattr", name, false)
	if err != nil {
		return 0, err
	}
	names, err := f.mount.LlistXattr(p)
	if err != nil {
		return 0, pathErr("listxattr", name, err)
	}
	var buf []byte
	for _, n := range names {
		buf = append(append(buf, n...), 0)
	}
	return fill(dest, buf, "listxattr", name)
}

// Removexattr implements fs.Xattrer.
func (f *FS) Removexattr(_ context.Context, name, attr string) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("removexattr", name, false)
	if err != nil {
		return err
	}
	return pathErr("removexattr", name, f.mount.LremoveXattr(p, attr))
}

func fill(dest, v []byte, op, name string) (int, error) {
	if len(dest) == 0 {
		return len(v), nil
	}
	if len(dest) < len(v) {
		return 0, fs.PathError(op, name, syscall.ERANGE)
	}
	return copy(dest, v), nil
}
