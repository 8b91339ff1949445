//go:build ceph && cgo

package cephfs

import (
	"errors"
	"io"
	"sync/atomic"
	"syscall"

	ceph "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// maxIO caps one libcephfs read or write call (it returns an int).
const maxIO = 1 << 30

// file is an open file of an FS.
type file struct {
	fs     *FS
	h      *ceph.File
	name   string
	dir    bool
	flags  int
	closed atomic.Bool
}

var _ fs.File = (*file)(nil)

func (f *file) check(op string) error {
	if f.closed.Load() {
		return fs.PathError(op, f.name, syscall.EBADF)
	}
	return nil
}

// Pread implements fs.File: it loops until p is full or the end of file.
func (f *file) Pread(p []byte, off int64) (int, error) {
	if err := f.check("pread"); err != nil {
		return 0, err
	}
	if f.dir {
		return 0, fs.PathError("pread", f.name, syscall.EISDIR)
	}
	if off < 0 {
		return 0, fs.PathError("pread", f.name, syscall.EINVAL)
	}
	total := 0
	for total < len(p) {
		chunk := p[total:]
		if len(chunk) > maxIO {
			chunk = chunk[:maxIO]
		}
		n, err := f.h.ReadAt(chunk, off+int64(total))
		total += n
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			break
		}
		if err != nil {
			return total, pathErr("pread", f.name, err)
		}
	}
	return total, nil
}

// Pwrite implements fs.File. With O_APPEND it appends, ignoring off.
func (f *file) Pwrite(p []byte, off int64) (int, error) {
	if err := f.check("pwrite"); err != nil {
		return 0, err
	}
	if f.dir {
		return 0, fs.PathError("pwrite", f.name, syscall.EISDIR)
	}
	appending := f.flags&unix.O_APPEND != 0
	if off < 0 && !appending {
		return 0, fs.PathError("pwrite", f.name, syscall.EINVAL)
	}
	if appending {
		// libcephfs appends only for writes at the file position (offset
		// -1), and its seek-to-end is not atomic between threads.
		f.fs.appendMu.Lock()
		defer f.fs.appendMu.Unlock()
	}
	total := 0
	for total < len(p) {
		chunk := p[total:]
		if len(chunk) > maxIO {
			chunk = chunk[:maxIO]
		}
		var n int
		var err error
		if appending {
			n, err = f.h.Write(chunk)
		} else {
			n, err = f.h.WriteAt(chunk, off+int64(total))
		}
		total += n
		if err != nil {
			return total, pathErr("pwrite", f.name, err)
		}
		if n == 0 {
			return total, fs.PathError("pwrite", f.name, syscall.EIO)
		}
	}
	return total, nil
}

// Stat implements fs.File.
func (f *file) Stat() (fs.Stat, error) {
	if err := f.check("fstat"); err != nil {
		return fs.Stat{}, err
	}
	st, err := f.h.Fstatx(ceph.StatxBasicStats, 0)
	if err != nil {
		return fs.Stat{}, pathErr("fstat", f.name, err)
	}
	return statOf(st), nil
}

// Truncate implements fs.File.
func (f *file) Truncate(size int64) error {
	if err := f.check("ftruncate"); err != nil {
		return err
	}
	if f.dir {
		return fs.PathError("ftruncate", f.name, syscall.EISDIR)
	}
	// libcephfs lets a read-only handle truncate (tracker 48202); Linux
	// says EINVAL.
	if size < 0 || f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return fs.PathError("ftruncate", f.name, syscall.EINVAL)
	}
	return pathErr("ftruncate", f.name, f.h.Truncate(size))
}

// Sync implements fs.File.
func (f *file) Sync(datasync bool) error {
	if err := f.check("fsync"); err != nil {
		return err
	}
	how := ceph.SyncAll
	if datasync {
		how = ceph.SyncDataOnly
	}
	return pathErr("fsync", f.name, f.h.Fsync(how))
}

// Allocate implements fs.File.
func (f *file) Allocate(mode uint32, off, length int64) error {
	if err := f.check("fallocate"); err != nil {
		return err
	}
	if f.dir {
		return fs.PathError("fallocate", f.name, syscall.EISDIR)
	}
	if off < 0 || length <= 0 {
		return fs.PathError("fallocate", f.name, syscall.EINVAL)
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return fs.PathError("fallocate", f.name, syscall.EBADF)
	}
	return pathErr("fallocate", f.name, f.h.Fallocate(ceph.FallocFlags(mode), off, length))
}

// Close implements fs.File; a second Close fails with EBADF.
func (f *file) Close() error {
	if f.closed.Swap(true) {
		return fs.PathError("close", f.name, syscall.EBADF)
	}
	return pathErr("close", f.name, f.h.Close())
}
