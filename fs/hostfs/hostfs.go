// Package hostfs is the libservice view of a host directory through plain
// kernel calls, the "what the kernel costs" reference of the harness.
package hostfs

import (
	"bytes"
	"context"
	"encoding/binary"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// HostFS is the libservice view of a host directory through plain kernel
// calls: each name is cleaned (fs.Clean) and joined to the root, and the call
// goes straight to the kernel on that absolute path. It adds no confinement
// beyond lexical cleaning (a symbolic link, absolute ones included, resolves
// on the host as the kernel sees it) and no O_DIRECT bounce buffers (the
// kernel's alignment rules apply), which is the point: it is the "what the
// kernel costs" reference that native Go workloads use on the kernel and
// FUSE systems, where the tenant already sees only its pool's mounts. Use
// fs/local for a confined service.
type HostFS struct {
	root string
}

var _ fs.Service = (*HostFS)(nil)

// New returns a service rooted at dir, which must be an existing
// directory.
func New(dir string) (*HostFS, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Stat(abs, &st); err != nil {
		return nil, fs.PathError("stat", abs, fs.Errno(err))
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return nil, fs.PathError("open", abs, syscall.ENOTDIR)
	}
	return &HostFS{root: abs}, nil
}

// Root is the host directory the service is rooted at.
func (h *HostFS) Root() string { return h.root }

func (h *HostFS) abs(name string) string {
	c := fs.Clean(name)
	if c == "" {
		return h.root
	}
	return h.root + "/" + c
}

// Open implements fs.Service.
func (h *HostFS) Open(_ context.Context, name string, flags int, mode uint32) (fs.File, error) {
	fd, err := unix.Open(h.abs(name), flags|unix.O_CLOEXEC, mode)
	if err != nil {
		return nil, fs.PathError("open", name, fs.Errno(err))
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, fs.PathError("open", name, fs.Errno(err))
	}
	return &hostFile{fd: fd, name: name, dir: st.Mode&unix.S_IFMT == unix.S_IFDIR, appendMode: flags&unix.O_APPEND != 0}, nil
}

// Stat implements fs.Service.
func (h *HostFS) Stat(_ context.Context, name string) (fs.Stat, error) {
	var st unix.Stat_t
	if err := unix.Stat(h.abs(name), &st); err != nil {
		return fs.Stat{}, fs.PathError("stat", name, fs.Errno(err))
	}
	return statOf(&st), nil
}

// Lstat implements fs.Service.
func (h *HostFS) Lstat(_ context.Context, name string) (fs.Stat, error) {
	var st unix.Stat_t
	if err := unix.Lstat(h.abs(name), &st); err != nil {
		return fs.Stat{}, fs.PathError("lstat", name, fs.Errno(err))
	}
	return statOf(&st), nil
}

// Mkdir implements fs.Service.
func (h *HostFS) Mkdir(_ context.Context, name string, mode uint32) error {
	return errnoPath("mkdir", name, unix.Mkdir(h.abs(name), mode))
}

// Rmdir implements fs.Service; the root itself cannot be removed (EBUSY,
// as for a mount point).
func (h *HostFS) Rmdir(_ context.Context, name string) error {
	if fs.Clean(name) == "" {
		return fs.PathError("rmdir", name, syscall.EBUSY)
	}
	return errnoPath("rmdir", name, unix.Rmdir(h.abs(name)))
}

// Unlink implements fs.Service.
func (h *HostFS) Unlink(_ context.Context, name string) error {
	return errnoPath("unlink", name, unix.Unlink(h.abs(name)))
}

// Rename implements fs.Service.
func (h *HostFS) Rename(_ context.Context, oldname, newname string, flags uint32) error {
	if fs.Clean(oldname) == "" || fs.Clean(newname) == "" {
		return fs.PathError("rename", oldname, syscall.EBUSY)
	}
	return errnoPath("rename", oldname, unix.Renameat2(unix.AT_FDCWD, h.abs(oldname), unix.AT_FDCWD, h.abs(newname), uint(flags)))
}

// OpenDir implements fs.Service.
func (h *HostFS) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	fd, err := unix.Open(h.abs(name), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fs.PathError("opendir", name, fs.Errno(err))
	}
	return &hostDir{fd: fd, name: name}, nil
}

// Symlink implements fs.Service.
func (h *HostFS) Symlink(_ context.Context, target, linkname string) error {
	return errnoPath("symlink", linkname, unix.Symlink(target, h.abs(linkname)))
}

// Readlink implements fs.Service.
func (h *HostFS) Readlink(_ context.Context, name string) (string, error) {
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlink(h.abs(name), buf)
	if err != nil {
		return "", fs.PathError("readlink", name, fs.Errno(err))
	}
	return string(buf[:n]), nil
}

// Link implements fs.Service.
func (h *HostFS) Link(_ context.Context, oldname, newname string) error {
	return errnoPath("link", newname, unix.Link(h.abs(oldname), h.abs(newname)))
}

// Chmod implements fs.Service.
func (h *HostFS) Chmod(_ context.Context, name string, mode uint32) error {
	return errnoPath("chmod", name, unix.Chmod(h.abs(name), mode))
}

// Chown implements fs.Service.
func (h *HostFS) Chown(_ context.Context, name string, uid, gid int, flags int) error {
	return errnoPath("chown", name, unix.Fchownat(unix.AT_FDCWD, h.abs(name), uid, gid, flags))
}

// Utimens implements fs.Service.
func (h *HostFS) Utimens(_ context.Context, name string, times [2]fs.Timespec, flags int) error {
	ts := []unix.Timespec{{Sec: times[0].Sec, Nsec: times[0].Nsec}, {Sec: times[1].Sec, Nsec: times[1].Nsec}}
	return errnoPath("utimens", name, unix.UtimesNanoAt(unix.AT_FDCWD, h.abs(name), ts, flags))
}

// Truncate implements fs.Service.
func (h *HostFS) Truncate(_ context.Context, name string, size int64) error {
	return errnoPath("truncate", name, unix.Truncate(h.abs(name), size))
}

// Access implements fs.Service.
func (h *HostFS) Access(_ context.Context, name string, mode uint32) error {
	return errnoPath("access", name, unix.Faccessat(unix.AT_FDCWD, h.abs(name), mode, unix.AT_EACCESS))
}

// Statfs implements fs.Service.
func (h *HostFS) Statfs(_ context.Context, name string) (fs.Statfs, error) {
	var s unix.Statfs_t
	if err := unix.Statfs(h.abs(name), &s); err != nil {
		return fs.Statfs{}, fs.PathError("statfs", name, fs.Errno(err))
	}
	return fs.Statfs{Type: s.Type, Bsize: s.Bsize, Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail,
		Files: s.Files, Ffree: s.Ffree, Namelen: s.Namelen, Frsize: s.Frsize}, nil
}

// Close implements fs.Service; the host directory stays.
func (h *HostFS) Close() error { return nil }

func errnoPath(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fs.PathError(op, name, fs.Errno(err))
}

func statOf(st *unix.Stat_t) fs.Stat {
	return fs.Stat{
		Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Nlink: uint32(st.Nlink), Uid: st.Uid, Gid: st.Gid,
		Rdev: st.Rdev, Size: st.Size, Blksize: st.Blksize, Blocks: st.Blocks,
		Atime: fs.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtime: fs.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctime: fs.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}

type hostFile struct {
	fd         int
	name       string
	dir        bool
	appendMode bool
}

func (f *hostFile) Pread(p []byte, off int64) (int, error) {
	if f.dir {
		return 0, fs.PathError("pread", f.name, syscall.EISDIR)
	}
	if off < 0 {
		return 0, fs.PathError("pread", f.name, syscall.EINVAL)
	}
	total := 0
	for total < len(p) {
		n, err := unix.Pread(f.fd, p[total:], off+int64(total))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, fs.PathError("pread", f.name, fs.Errno(err))
		}
		if n == 0 {
			break
		}
		total += n
	}
	return total, nil
}

func (f *hostFile) Pwrite(p []byte, off int64) (int, error) {
	if f.dir {
		return 0, fs.PathError("pwrite", f.name, syscall.EISDIR)
	}
	if off < 0 && !f.appendMode {
		return 0, fs.PathError("pwrite", f.name, syscall.EINVAL)
	}
	total := 0
	for total < len(p) {
		var n int
		var err error
		if f.appendMode {
			n, err = unix.Write(f.fd, p[total:]) // O_APPEND: the kernel appends
		} else {
			n, err = unix.Pwrite(f.fd, p[total:], off+int64(total))
		}
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, fs.PathError("pwrite", f.name, fs.Errno(err))
		}
		total += n
	}
	return total, nil
}

func (f *hostFile) Stat() (fs.Stat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return fs.Stat{}, fs.PathError("fstat", f.name, fs.Errno(err))
	}
	return statOf(&st), nil
}

func (f *hostFile) Truncate(size int64) error {
	return errnoPath("ftruncate", f.name, unix.Ftruncate(f.fd, size))
}

func (f *hostFile) Sync(datasync bool) error {
	if datasync {
		return errnoPath("fdatasync", f.name, unix.Fdatasync(f.fd))
	}
	return errnoPath("fsync", f.name, unix.Fsync(f.fd))
}

func (f *hostFile) Allocate(mode uint32, off, length int64) error {
	return errnoPath("fallocate", f.name, unix.Fallocate(f.fd, mode, off, length))
}

func (f *hostFile) Close() error {
	return errnoPath("close", f.name, unix.Close(f.fd))
}

type hostDir struct {
	fd      int
	name    string
	pending []fs.Dirent
	eof     bool
	buf     []byte
}

// ReadDir parses getdents64 records: ino u64, off i64, reclen u16, type u8, name.
func (d *hostDir) ReadDir(n int) ([]fs.Dirent, error) {
	if d.buf == nil {
		d.buf = make([]byte, 32<<10)
	}
	for !d.eof && (n <= 0 || len(d.pending) < n) {
		m, err := unix.Getdents(d.fd, d.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, fs.PathError("readdir", d.name, fs.Errno(err))
		}
		if m == 0 {
			d.eof = true
			break
		}
		for b := d.buf[:m]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen < 19 || reclen > len(b) {
				return nil, fs.PathError("readdir", d.name, syscall.EIO)
			}
			name := b[19:reclen]
			if i := bytes.IndexByte(name, 0); i >= 0 {
				name = name[:i]
			}
			if s := string(name); s != "." && s != ".." {
				d.pending = append(d.pending, fs.Dirent{Name: s, Ino: binary.NativeEndian.Uint64(b[0:8]), Type: b[18]})
			}
			b = b[reclen:]
		}
	}
	k := len(d.pending)
	if n > 0 && n < k {
		k = n
	}
	out := d.pending[:k:k]
	d.pending = d.pending[k:]
	if out == nil {
		out = []fs.Dirent{}
	}
	return out, nil
}

func (d *hostDir) Close() error { return errnoPath("closedir", d.name, unix.Close(d.fd)) }
