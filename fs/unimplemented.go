package fs

import (
	"context"
	"syscall"
)

// Unimplemented answers every Service call with ENOSYS. Embed it in a
// service under construction, or one that supports only part of the API, so
// that missing operations fail the way Linux reports an unsupported call.
type Unimplemented struct{}

var _ Service = Unimplemented{}

func (Unimplemented) Open(_ context.Context, name string, _ int, _ uint32) (File, error) {
	return nil, PathError("open", name, syscall.ENOSYS)
}
func (Unimplemented) Stat(_ context.Context, name string) (Stat, error) {
	return Stat{}, PathError("stat", name, syscall.ENOSYS)
}
func (Unimplemented) Lstat(_ context.Context, name string) (Stat, error) {
	return Stat{}, PathError("lstat", name, syscall.ENOSYS)
}
func (Unimplemented) Mkdir(_ context.Context, name string, _ uint32) error {
	return PathError("mkdir", name, syscall.ENOSYS)
}
func (Unimplemented) Rmdir(_ context.Context, name string) error {
	return PathError("rmdir", name, syscall.ENOSYS)
}
func (Unimplemented) Unlink(_ context.Context, name string) error {
	return PathError("unlink", name, syscall.ENOSYS)
}
func (Unimplemented) Rename(_ context.Context, oldname, _ string, _ uint32) error {
	return PathError("rename", oldname, syscall.ENOSYS)
}
func (Unimplemented) OpenDir(_ context.Context, name string) (Dir, error) {
	return nil, PathError("opendir", name, syscall.ENOSYS)
}
func (Unimplemented) Symlink(_ context.Context, _, linkname string) error {
	return PathError("symlink", linkname, syscall.ENOSYS)
}
func (Unimplemented) Readlink(_ context.Context, name string) (string, error) {
	return "", PathError("readlink", name, syscall.ENOSYS)
}
func (Unimplemented) Link(_ context.Context, _, newname string) error {
	return PathError("link", newname, syscall.ENOSYS)
}
func (Unimplemented) Chmod(_ context.Context, name string, _ uint32) error {
	return PathError("chmod", name, syscall.ENOSYS)
}
func (Unimplemented) Chown(_ context.Context, name string, _, _ int, _ int) error {
	return PathError("chown", name, syscall.ENOSYS)
}
func (Unimplemented) Utimens(_ context.Context, name string, _ [2]Timespec, _ int) error {
	return PathError("utimens", name, syscall.ENOSYS)
}
func (Unimplemented) Truncate(_ context.Context, name string, _ int64) error {
	return PathError("truncate", name, syscall.ENOSYS)
}
func (Unimplemented) Access(_ context.Context, name string, _ uint32) error {
	return PathError("access", name, syscall.ENOSYS)
}
func (Unimplemented) Statfs(_ context.Context, name string) (Statfs, error) {
	return Statfs{}, PathError("statfs", name, syscall.ENOSYS)
}
func (Unimplemented) Close() error { return nil }
