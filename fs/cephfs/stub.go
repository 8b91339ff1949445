//go:build !(ceph && cgo)

package cephfs

import (
	"context"
	"fmt"
	"syscall"

	"polytropon/fs"
)

// Available reports whether this build talks to Ceph (true with -tags ceph).
const Available = false

// FS is a mounted CephFS client. In this build (without -tags ceph) none
// can be made: New always fails.
type FS struct {
	fs.Unimplemented
}

var (
	_ fs.Service = (*FS)(nil)
	_ fs.Xattrer = (*FS)(nil)
)

// New fails: this binary was built without libcephfs.
func New(_ context.Context, cfg Config) (*FS, error) {
	return nil, fmt.Errorf("cephfs: mount %s as client.%s: built without -tags ceph (rebuild with -tags \"ceph pacific\" and libcephfs-dev): %w",
		cfg.Root, cfg.ID, ErrUnavailable)
}

// ID returns the client id.
func (f *FS) ID() string { return "" }

// Root returns the directory of the file system mounted as the root.
func (f *FS) Root() string { return "" }

// SyncFS writes every dirty byte of the client back to the cluster.
func (f *FS) SyncFS() error { return ErrUnavailable }

// Getxattr implements fs.Xattrer (ENOSYS in this build).
func (f *FS) Getxattr(_ context.Context, name, _ string, _ []byte) (int, error) {
	return 0, fs.PathError("getxattr", name, syscall.ENOSYS)
}

// Setxattr implements fs.Xattrer (ENOSYS in this build).
func (f *FS) Setxattr(_ context.Context, name, _ string, _ []byte, _ int) error {
	return fs.PathError("setxattr", name, syscall.ENOSYS)
}

// Listxattr implements fs.Xattrer (ENOSYS in this build).
func (f *FS) Listxattr(_ context.Context, name string, _ []byte) (int, error) {
	return 0, fs.PathError("listxattr", name, syscall.ENOSYS)
}

// Removexattr implements fs.Xattrer (ENOSYS in this build).
func (f *FS) Removexattr(_ context.Context, name, _ string) error {
	return fs.PathError("removexattr", name, syscall.ENOSYS)
}
