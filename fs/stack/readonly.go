package stack

import (
	"context"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func contextWithMountTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	if d <= 0 {
		d = 2 * 60 * time.Second
	} else {
		d += 30 * time.Second
	}
	return context.WithTimeout(context.Background(), d)
}

// readOnly refuses every change with EROFS and forwards the rest; it closes
// what it wraps.
type readOnly struct {
	fs.Service
}

var (
	_ fs.Service   = readOnly{}
	_ fs.Xattrer   = readOnly{}
	_ fs.Unwrapper = readOnly{}
)

// ReadOnly wraps s so that nothing can change through it.
func ReadOnly(s fs.Service) fs.Service { return readOnly{s} }

func (r readOnly) Unwrap() []fs.Service { return []fs.Service{r.Service} }

func (r readOnly) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY || flags&(unix.O_CREAT|unix.O_TRUNC) != 0 {
		return nil, fs.PathError("open", name, syscall.EROFS)
	}
	f, err := r.Service.Open(ctx, name, flags, mode)
	if err != nil {
		return nil, err
	}
	return readOnlyFile{f, name}, nil
}

func (r readOnly) Mkdir(_ context.Context, name string, _ uint32) error {
	return fs.PathError("mkdir", name, syscall.EROFS)
}
func (r readOnly) Rmdir(_ context.Context, name string) error {
	return fs.PathError("rmdir", name, syscall.EROFS)
}
func (r readOnly) Unlink(_ context.Context, name string) error {
	return fs.PathError("unlink", name, syscall.EROFS)
}
func (r readOnly) Rename(_ context.Context, oldname, _ string, _ uint32) error {
	return fs.PathError("rename", oldname, syscall.EROFS)
}
func (r readOnly) Symlink(_ context.Context, _, linkname string) error {
	return fs.PathError("symlink", linkname, syscall.EROFS)
}
func (r readOnly) Link(_ context.Context, _, newname string) error {
	return fs.PathError("link", newname, syscall.EROFS)
}
func (r readOnly) Chmod(_ context.Context, name string, _ uint32) error {
	return fs.PathError("chmod", name, syscall.EROFS)
}
func (r readOnly) Chown(_ context.Context, name string, _, _ int, _ int) error {
	return fs.PathError("chown", name, syscall.EROFS)
}
func (r readOnly) Utimens(_ context.Context, name string, _ [2]fs.Timespec, _ int) error {
	return fs.PathError("utimens", name, syscall.EROFS)
}
func (r readOnly) Truncate(_ context.Context, name string, _ int64) error {
	return fs.PathError("truncate", name, syscall.EROFS)
}

// Access reports EROFS for W_OK, as access(2) on a read-only mount.
func (r readOnly) Access(ctx context.Context, name string, mode uint32) error {
	if err := r.Service.Access(ctx, name, mode); err != nil {
		return err
	}
	if mode&unix.W_OK != 0 {
		return fs.PathError("access", name, syscall.EROFS)
	}
	return nil
}

func (r readOnly) Getxattr(ctx context.Context, name, attr string, dest []byte) (int, error) {
	if x, ok := r.Service.(fs.Xattrer); ok {
		return x.Getxattr(ctx, name, attr, dest)
	}
	return 0, fs.PathError("getxattr", name, syscall.ENOTSUP)
}
func (r readOnly) Listxattr(ctx context.Context, name string, dest []byte) (int, error) {
	if x, ok := r.Service.(fs.Xattrer); ok {
		return x.Listxattr(ctx, name, dest)
	}
	return 0, fs.PathError("listxattr", name, syscall.ENOTSUP)
}
func (r readOnly) Setxattr(_ context.Context, name, _ string, _ []byte, _ int) error {
	return fs.PathError("setxattr", name, syscall.EROFS)
}
func (r readOnly) Removexattr(_ context.Context, name, _ string) error {
	return fs.PathError("removexattr", name, syscall.EROFS)
}

// readOnlyFile is a file opened read-only: writes fail with EBADF as on a
// read-only descriptor.
type readOnlyFile struct {
	fs.File
	name string
}

func (f readOnlyFile) Pwrite([]byte, int64) (int, error) {
	return 0, fs.PathError("pwrite", f.name, syscall.EBADF)
}
func (f readOnlyFile) Truncate(int64) error {
	return fs.PathError("ftruncate", f.name, syscall.EROFS)
}
func (f readOnlyFile) Allocate(uint32, int64, int64) error {
	return fs.PathError("fallocate", f.name, syscall.EROFS)
}
