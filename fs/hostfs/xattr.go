package hostfs

import (
	"context"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/local"
)

// Extended attributes and copy_file_range are the kernel's calls too: the
// l*xattr calls (a final symlink is not followed, as fs.Xattrer wants) and
// copy_file_range(2) between two of the service's files, so that the
// conformance suite sees what the mounted file system itself does.

var (
	_ fs.Xattrer        = (*HostFS)(nil)
	_ fs.CopyFileRanger = (*hostFile)(nil)
)

// Getxattr implements fs.Xattrer; an empty dest asks for the size only.
func (h *HostFS) Getxattr(_ context.Context, name, attr string, dest []byte) (int, error) {
	n, err := unix.Lgetxattr(h.abs(name), attr, dest)
	return n, errnoPath("getxattr", name, err)
}

// Setxattr implements fs.Xattrer; flags are XATTR_CREATE/XATTR_REPLACE.
func (h *HostFS) Setxattr(_ context.Context, name, attr string, data []byte, flags int) error {
	return errnoPath("setxattr", name, unix.Lsetxattr(h.abs(name), attr, data, flags))
}

// Listxattr implements fs.Xattrer; an empty dest asks for the size only.
func (h *HostFS) Listxattr(_ context.Context, name string, dest []byte) (int, error) {
	n, err := unix.Llistxattr(h.abs(name), dest)
	return n, errnoPath("listxattr", name, err)
}

// Removexattr implements fs.Xattrer.
func (h *HostFS) Removexattr(_ context.Context, name, attr string) error {
	return errnoPath("removexattr", name, unix.Lremovexattr(h.abs(name), attr))
}

// CopyFileRange implements fs.CopyFileRanger for a dst of a HostFS (else
// EXDEV): n bytes from srcOff, short only at the end of f.
func (f *hostFile) CopyFileRange(srcOff int64, dst fs.File, dstOff int64, n int64) (int64, error) {
	d, ok := dst.(*hostFile)
	if !ok {
		return 0, fs.PathError("copy_file_range", f.name, syscall.EXDEV)
	}
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return 0, fs.PathError("copy_file_range", f.name, syscall.EINVAL)
	}
	done, err := local.CopyRange(f.fd, srcOff, d.fd, dstOff, n)
	if err != nil {
		return done, fs.PathError("copy_file_range", f.name, fs.Errno(err))
	}
	return done, nil
}
