package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// FS is the fs.Service view of the client rooted at an absolute path (a
// directory inside some mount). Names are cleaned with fs.Clean and joined
// to the root, so they never climb above it; nested mounts below the root
// are crossed the way the kernel crosses mount points.
type FS struct {
	c     *Client
	root  string
	owned bool // Close closes the client too
}

var (
	_ fs.Service = (*FS)(nil)
	_ fs.Xattrer = (*FS)(nil)
	_ fs.File    = (*File)(nil)
	_ fs.Dir     = (*Dir)(nil)
)

// FS returns the view rooted at root; it fails with ErrNotOurs when root is
// outside every mount.
func (c *Client) FS(root string) (*FS, error) {
	if !path.IsAbs(root) {
		return nil, fmt.Errorf("client: FS root %q is not absolute", root)
	}
	root = path.Clean(root)
	if _, _, err := c.Resolve(root); err != nil {
		return nil, err
	}
	return &FS{c: c, root: root}, nil
}

// OpenFS dials the service and returns the view rooted at root; closing the
// view closes the client.
func OpenFS(ctx context.Context, opts Options, root string) (*FS, error) {
	c, err := Dial(ctx, opts)
	if err != nil {
		return nil, err
	}
	v, err := c.FS(root)
	if err != nil {
		c.Close()
		return nil, err
	}
	v.owned = true
	return v, nil
}

// Client returns the client behind the view.
func (v *FS) Client() *Client { return v.c }

func (v *FS) resolve(name string) (uint32, string, error) {
	abs := path.Join(v.root, fs.Clean(name))
	v.c.mu.Lock()
	defer v.c.mu.Unlock()
	return v.c.resolveLocked(abs)
}

// notOursErr is the error of a name outside every mount: errors.Is it
// ErrNotOurs (callers fall back to the kernel) and its errno is EXDEV.
type notOursErr struct{}

func (notOursErr) Error() string   { return "not served by the filesystem service" }
func (notOursErr) Unwrap() []error { return []error{ErrNotOurs, syscall.EXDEV} }

func notOurs(op, name string) error { return &os.PathError{Op: op, Path: name, Err: notOursErr{}} }

// perr wraps an error the way every libservice does.
func perr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	var e syscall.Errno
	if !errors.As(err, &e) {
		e = fs.Errno(err)
	}
	return fs.PathError(op, name, e)
}

// Open implements fs.Service.
func (v *FS) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, perr("open", name, syscall.EINTR)
	}
	inst, rel, err := v.resolve(name)
	if err != nil {
		return nil, notOurs("open", name)
	}
	sfd, err := v.c.openSfd(inst, rel, flags, mode)
	if err != nil {
		return nil, perr("open", name, err)
	}
	return &File{c: v.c, sfd: sfd, name: name}, nil
}

func (v *FS) simple(op string, call uint32, name string, args ...uint64) error {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return notOurs(op, name)
	}
	_, err = v.c.pathCall(call, inst, rel, args...)
	return perr(op, name, err)
}

// Stat implements fs.Service.
func (v *FS) Stat(_ context.Context, name string) (fs.Stat, error) {
	return v.stat("stat", name, false)
}

// Lstat implements fs.Service.
func (v *FS) Lstat(_ context.Context, name string) (fs.Stat, error) {
	return v.stat("lstat", name, true)
}

func (v *FS) stat(op, name string, lstat bool) (fs.Stat, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return fs.Stat{}, notOurs(op, name)
	}
	st, err := v.c.statPath(inst, rel, lstat)
	return st, perr(op, name, err)
}

// Mkdir implements fs.Service.
func (v *FS) Mkdir(_ context.Context, name string, mode uint32) error {
	return v.simple("mkdir", wire.CallMkdir, name, uint64(mode))
}

// Rmdir implements fs.Service.
func (v *FS) Rmdir(_ context.Context, name string) error {
	return v.simple("rmdir", wire.CallRmdir, name)
}

// Unlink implements fs.Service.
func (v *FS) Unlink(_ context.Context, name string) error {
	return v.simple("unlink", wire.CallUnlink, name)
}

func (v *FS) two(op string, call uint32, oldname, newname string, args ...uint64) error {
	i1, r1, err := v.resolve(oldname)
	if err != nil {
		return notOurs(op, oldname)
	}
	i2, r2, err := v.resolve(newname)
	if err != nil {
		return notOurs(op, newname)
	}
	if i1 != i2 {
		return perr(op, oldname, syscall.EXDEV)
	}
	_, err = v.c.pathCall2(call, i1, r1, r2, nil, args...)
	return perr(op, oldname, err)
}

// Rename implements fs.Service.
func (v *FS) Rename(_ context.Context, oldname, newname string, flags uint32) error {
	return v.two("rename", wire.CallRename, oldname, newname, uint64(flags))
}

// Link implements fs.Service.
func (v *FS) Link(_ context.Context, oldname, newname string) error {
	return v.two("link", wire.CallLink, oldname, newname)
}

// Symlink implements fs.Service; the target is stored verbatim.
func (v *FS) Symlink(_ context.Context, target, linkname string) error {
	inst, rel, err := v.resolve(linkname)
	if err != nil {
		return notOurs("symlink", linkname)
	}
	_, err = v.c.pathCall2(wire.CallSymlink, inst, rel, target, nil)
	return perr("symlink", linkname, err)
}

// Readlink implements fs.Service.
func (v *FS) Readlink(_ context.Context, name string) (string, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return "", notOurs("readlink", name)
	}
	b, err := v.c.pathOut(wire.CallReadlink, inst, rel, "", wire.PathMax)
	if err != nil {
		return "", perr("readlink", name, err)
	}
	return string(b), nil
}

// OpenDir implements fs.Service.
func (v *FS) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return nil, notOurs("opendir", name)
	}
	sfd, err := v.c.openSfd(inst, rel, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, perr("opendir", name, err)
	}
	return &Dir{c: v.c, sfd: sfd, name: name}, nil
}

// Chmod implements fs.Service.
func (v *FS) Chmod(_ context.Context, name string, mode uint32) error {
	return v.simple("chmod", wire.CallChmod, name, uint64(mode))
}

// Chown implements fs.Service.
func (v *FS) Chown(_ context.Context, name string, uid, gid int, flags int) error {
	return v.simple("chown", wire.CallChown, name, uint64(uint32(int32(uid))), uint64(uint32(int32(gid))), uint64(uint32(int32(flags))))
}

// Utimens implements fs.Service.
func (v *FS) Utimens(_ context.Context, name string, t [2]fs.Timespec, flags int) error {
	return v.simple("utimens", wire.CallUtimens, name, uint64(t[0].Sec), uint64(t[0].Nsec),
		uint64(t[1].Sec), uint64(t[1].Nsec), uint64(uint32(int32(flags))))
}

// Truncate implements fs.Service.
func (v *FS) Truncate(_ context.Context, name string, size int64) error {
	return v.simple("truncate", wire.CallTruncate, name, uint64(size))
}

// Access implements fs.Service.
func (v *FS) Access(_ context.Context, name string, mode uint32) error {
	return v.simple("access", wire.CallAccess, name, uint64(mode))
}

// Statfs implements fs.Service.
func (v *FS) Statfs(_ context.Context, name string) (fs.Statfs, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return fs.Statfs{}, notOurs("statfs", name)
	}
	b, err := v.c.pathOut(wire.CallStatfs, inst, rel, "", int(wire.StatfsSize))
	if err != nil {
		return fs.Statfs{}, perr("statfs", name, err)
	}
	if len(b) < int(wire.StatfsSize) {
		return fs.Statfs{}, perr("statfs", name, syscall.EIO)
	}
	return wire.GetStatfs(b), nil
}

// Getxattr implements fs.Xattrer.
func (v *FS) Getxattr(_ context.Context, name, attr string, dest []byte) (int, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return 0, notOurs("getxattr", name)
	}
	if len(dest) == 0 {
		n, err := v.c.pathCall2(wire.CallGetxattr, inst, rel, attr, nil, 0)
		return int(n), perr("getxattr", name, err)
	}
	b, err := v.c.pathOut(wire.CallGetxattr, inst, rel, attr, len(dest), uint64(len(dest)))
	if err != nil {
		return 0, perr("getxattr", name, err)
	}
	return copy(dest, b), nil
}

// Setxattr implements fs.Xattrer.
func (v *FS) Setxattr(_ context.Context, name, attr string, data []byte, flags int) error {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return notOurs("setxattr", name)
	}
	if data == nil {
		data = []byte{}
	}
	_, err = v.c.pathCall2(wire.CallSetxattr, inst, rel, attr, data, uint64(uint32(int32(flags))))
	return perr("setxattr", name, err)
}

// Listxattr implements fs.Xattrer.
func (v *FS) Listxattr(_ context.Context, name string, dest []byte) (int, error) {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return 0, notOurs("listxattr", name)
	}
	if len(dest) == 0 {
		n, err := v.c.pathCall(wire.CallListxattr, inst, rel, 0)
		return int(n), perr("listxattr", name, err)
	}
	b, err := v.c.pathOut(wire.CallListxattr, inst, rel, "", len(dest), uint64(len(dest)))
	if err != nil {
		return 0, perr("listxattr", name, err)
	}
	return copy(dest, b), nil
}

// Removexattr implements fs.Xattrer.
func (v *FS) Removexattr(_ context.Context, name, attr string) error {
	inst, rel, err := v.resolve(name)
	if err != nil {
		return notOurs("removexattr", name)
	}
	_, err = v.c.pathCall2(wire.CallRemovexattr, inst, rel, attr, nil)
	return perr("removexattr", name, err)
}

// Close implements fs.Service: it closes the client when the view owns it
// (OpenFS), otherwise nothing.
func (v *FS) Close() error {
	if v.owned {
		return v.c.Close()
	}
	return nil
}

// File is an open file of the view: a service fd.
type File struct {
	c    *Client
	sfd  uint64
	name string
}

// Sfd is the service fd behind the file.
func (f *File) Sfd() uint64 { return f.sfd }

// Pread implements fs.File.
func (f *File) Pread(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, perr("pread", f.name, syscall.EINVAL)
	}
	n, err := f.c.readAt(wire.CallPread, f.sfd, p, off)
	return n, perr("pread", f.name, err)
}

// Pwrite implements fs.File.
func (f *File) Pwrite(p []byte, off int64) (int, error) {
	n, err := f.c.writeAt(wire.CallPwrite, f.sfd, p, off)
	return n, perr("pwrite", f.name, err)
}

// Stat implements fs.File.
func (f *File) Stat() (fs.Stat, error) {
	st, err := f.c.fstat(f.sfd)
	return st, perr("fstat", f.name, err)
}

// Truncate implements fs.File.
func (f *File) Truncate(size int64) error {
	_, err := f.c.fdCall(wire.CallFtruncate, f.sfd, uint64(size))
	return perr("ftruncate", f.name, err)
}

// Sync implements fs.File.
func (f *File) Sync(datasync bool) error {
	var ds uint64
	if datasync {
		ds = 1
	}
	_, err := f.c.fdCall(wire.CallFsync, f.sfd, ds)
	return perr("fsync", f.name, err)
}

// Allocate implements fs.File.
func (f *File) Allocate(mode uint32, off, length int64) error {
	_, err := f.c.fdCall(wire.CallFallocate, f.sfd, uint64(mode), uint64(off), uint64(length))
	return perr("fallocate", f.name, err)
}

// Close implements fs.File.
func (f *File) Close() error {
	_, err := f.c.fdCall(wire.CallClose, f.sfd)
	return perr("close", f.name, err)
}

// Dir is a directory stream of the view.
type Dir struct {
	c       *Client
	sfd     uint64
	name    string
	pending []fs.Dirent
	eof     bool
}

// ReadDir implements fs.Dir.
func (d *Dir) ReadDir(n int) ([]fs.Dirent, error) {
	for !d.eof && (n <= 0 || len(d.pending) < n) {
		ents, err := d.c.getdents(d.sfd)
		if err != nil {
			return nil, perr("readdir", d.name, err)
		}
		if len(ents) == 0 {
			d.eof = true
			break
		}
		d.pending = append(d.pending, ents...)
	}
	k := len(d.pending)
	if n > 0 && n < k {
		k = n
	}
	out := append([]fs.Dirent{}, d.pending[:k]...)
	d.pending = d.pending[k:]
	return out, nil
}

// Close implements fs.Dir.
func (d *Dir) Close() error {
	_, err := d.c.fdCall(wire.CallClose, d.sfd)
	return perr("closedir", d.name, err)
}
