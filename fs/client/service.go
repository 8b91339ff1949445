package client

import (
	"context"

	"polytropon/fs"
)

// The Client itself is an fs.Service rooted at "/" of the mount
// namespace: a name is resolved against the mount table, and one outside
// every mount fails with an error that errors.Is ErrNotOurs (errno EXDEV),
// so that callers can fall back to the kernel. Close unregisters.

var (
	_ fs.Service = (*Client)(nil)
	_ fs.Xattrer = (*Client)(nil)
)

func (c *Client) rootFS() *FS { return &c.root }

// Open implements fs.Service.
func (c *Client) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	return c.rootFS().Open(ctx, name, flags, mode)
}

// Stat implements fs.Service.
func (c *Client) Stat(ctx context.Context, name string) (fs.Stat, error) {
	return c.rootFS().Stat(ctx, name)
}

// Lstat implements fs.Service.
func (c *Client) Lstat(ctx context.Context, name string) (fs.Stat, error) {
	return c.rootFS().Lstat(ctx, name)
}

// Mkdir implements fs.Service.
func (c *Client) Mkdir(ctx context.Context, name string, mode uint32) error {
	return c.rootFS().Mkdir(ctx, name, mode)
}

// Rmdir implements fs.Service.
func (c *Client) Rmdir(ctx context.Context, name string) error { return c.rootFS().Rmdir(ctx, name) }

// Unlink implements fs.Service.
func (c *Client) Unlink(ctx context.Context, name string) error { return c.rootFS().Unlink(ctx, name) }

// Rename implements fs.Service.
func (c *Client) Rename(ctx context.Context, oldname, newname string, flags uint32) error {
	return c.rootFS().Rename(ctx, oldname, newname, flags)
}

// OpenDir implements fs.Service.
func (c *Client) OpenDir(ctx context.Context, name string) (fs.Dir, error) {
	return c.rootFS().OpenDir(ctx, name)
}

// Symlink implements fs.Service.
func (c *Client) Symlink(ctx context.Context, target, linkname string) error {
	return c.rootFS().Symlink(ctx, target, linkname)
}

// Readlink implements fs.Service.
func (c *Client) Readlink(ctx context.Context, name string) (string, error) {
	return c.rootFS().Readlink(ctx, name)
}

// Link implements fs.Service.
func (c *Client) Link(ctx context.Context, oldname, newname string) error {
	return c.rootFS().Link(ctx, oldname, newname)
}

// Chmod implements fs.Service.
func (c *Client) Chmod(ctx context.Context, name string, mode uint32) error {
	return c.rootFS().Chmod(ctx, name, mode)
}

// Chown implements fs.Service.
func (c *Client) Chown(ctx context.Context, name string, uid, gid int, flags int) error {
	return c.rootFS().Chown(ctx, name, uid, gid, flags)
}

// Utimens implements fs.Service.
func (c *Client) Utimens(ctx context.Context, name string, times [2]fs.Timespec, flags int) error {
	return c.rootFS().Utimens(ctx, name, times, flags)
}

// Truncate implements fs.Service.
func (c *Client) Truncate(ctx context.Context, name string, size int64) error {
	return c.rootFS().Truncate(ctx, name, size)
}

// Access implements fs.Service.
func (c *Client) Access(ctx context.Context, name string, mode uint32) error {
	return c.rootFS().Access(ctx, name, mode)
}

// Statfs implements fs.Service.
func (c *Client) Statfs(ctx context.Context, name string) (fs.Statfs, error) {
	return c.rootFS().Statfs(ctx, name)
}

// Getxattr implements fs.Xattrer.
func (c *Client) Getxattr(ctx context.Context, name, attr string, dest []byte) (int, error) {
	return c.rootFS().Getxattr(ctx, name, attr, dest)
}

// Setxattr implements fs.Xattrer.
func (c *Client) Setxattr(ctx context.Context, name, attr string, data []byte, flags int) error {
	return c.rootFS().Setxattr(ctx, name, attr, data, flags)
}

// Listxattr implements fs.Xattrer.
func (c *Client) Listxattr(ctx context.Context, name string, dest []byte) (int, error) {
	return c.rootFS().Listxattr(ctx, name, dest)
}

// Removexattr implements fs.Xattrer.
func (c *Client) Removexattr(ctx context.Context, name, attr string) error {
	return c.rootFS().Removexattr(ctx, name, attr)
}
