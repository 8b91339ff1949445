package local

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// File is an open file of a Local service. Its descriptors are never
// exposed.
type File struct {
	fd     int
	name   string // as passed to Open, for errors
	flags  int    // open flags without O_DIRECT
	closed atomic.Bool

	// Direct I/O state, set by enableDirect before the File is shared.
	direct   bool
	memAlign int64 // buffer address alignment for O_DIRECT
	offAlign int64 // file offset and length alignment for O_DIRECT
	bufOnce  sync.Once
	bufFd    int // buffered descriptor of the same open file, or -1
	bufErr   error
}

// enableDirect switches fd to O_DIRECT when the file is regular and its file
// system supports direct I/O; otherwise the file stays buffered.
func (f *File) enableDirect() {
	var stx unix.Statx_t
	if err := unix.Statx(f.fd, "", unix.AT_EMPTY_PATH, unix.STATX_TYPE|unix.STATX_DIOALIGN, &stx); err != nil {
		return
	}
	if stx.Mode&unix.S_IFMT != unix.S_IFREG || stx.Mask&unix.STATX_DIOALIGN == 0 ||
		stx.Dio_mem_align == 0 || stx.Dio_offset_align == 0 {
		return
	}
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil {
		return
	}
	if _, err := unix.FcntlInt(uintptr(f.fd), unix.F_SETFL, fl|unix.O_DIRECT); err != nil {
		return
	}
	f.direct = true
	f.memAlign = int64(stx.Dio_mem_align)
	f.offAlign = int64(stx.Dio_offset_align)
}

// buffered returns a descriptor of the same open file without O_DIRECT,
// opened on first use through the /proc magic link of fd.
func (f *File) buffered() (int, error) {
	f.bufOnce.Do(func() {
		flags := f.flags & (unix.O_ACCMODE | unix.O_APPEND | unix.O_SYNC | unix.O_DSYNC | unix.O_NOATIME)
		fd, err := unix.Open(procFdPath(f.fd), flags|unix.O_CLOEXEC, 0)
		if err != nil {
			f.bufErr = err
			return
		}
		f.bufFd = fd
	})
	return f.bufFd, f.bufErr
}

func (f *File) aligned(p []byte, off int64) bool {
	return off%f.offAlign == 0 && int64(len(p))%f.offAlign == 0 && isAligned(p, f.memAlign)
}

func (f *File) err(op string, err error) error { return pathErr(op, f.name, err) }

// Pread reads len(p) bytes at off unless end of file comes first.
func (f *File) Pread(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fs.PathError("pread", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if f.direct {
		if f.aligned(p, off) {
			return f.preadFull(f.fd, p, off)
		}
		return f.preadBounce(p, off)
	}
	return f.preadFull(f.fd, p, off)
}

func (f *File) preadFull(fd int, p []byte, off int64) (int, error) {
	done := 0
	for done < len(p) {
		n, err := unix.Pread(fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, f.err("pread", err)
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// preadBounce serves an unaligned direct read through an aligned buffer.
func (f *File) preadBounce(p []byte, off int64) (int, error) {
	start := off - off%f.offAlign
	end := off + int64(len(p))
	if r := end % f.offAlign; r != 0 {
		end += f.offAlign - r
	}
	buf := alignedBuf(int(end-start), f.memAlign)
	n, err := f.preadFull(f.fd, buf, start)
	if err != nil {
		return 0, err
	}
	skip := int(off - start)
	if n <= skip {
		return 0, nil
	}
	return copy(p, buf[skip:n]), nil
}

// Pwrite writes p at off (appends when the file was opened O_APPEND).
func (f *File) Pwrite(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fs.PathError("pwrite", f.name, syscall.EINVAL)
	}
	if len(p) == 0 {
		return 0, nil
	}
	fd := f.fd
	if f.direct {
		switch {
		case f.flags&unix.O_APPEND != 0 || off%f.offAlign != 0 || int64(len(p))%f.offAlign != 0:
			bfd, err := f.buffered()
			if err != nil {
				return 0, f.err("pwrite", err)
			}
			fd = bfd
		case !isAligned(p, f.memAlign):
			buf := alignedBuf(len(p), f.memAlign)
			copy(buf, p)
			p = buf
		}
	}
	done := 0
	for done < len(p) {
		n, err := unix.Pwrite(fd, p[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, f.err("pwrite", err)
		}
		if n == 0 {
			return done, f.err("pwrite", unix.EIO)
		}
		done += n
	}
	return done, nil
}

// Stat returns the attributes of the open file.
func (f *File) Stat() (fs.Stat, error) {
	var st unix.Stat_t
	if err := retry(func() error { return unix.Fstat(f.fd, &st) }); err != nil {
		return fs.Stat{}, f.err("fstat", err)
	}
	return statFromUnix(&st), nil
}

// Truncate sets the size of the open file.
func (f *File) Truncate(size int64) error {
	if size < 0 {
		return fs.PathError("ftruncate", f.name, syscall.EINVAL)
	}
	if err := retry(func() error { return unix.Ftruncate(f.fd, size) }); err != nil {
		return f.err("ftruncate", err)
	}
	return nil
}

// Sync is fsync(2), or fdatasync(2) when datasync is set.
func (f *File) Sync(datasync bool) error {
	err := retry(func() error {
		if datasync {
			return unix.Fdatasync(f.fd)
		}
		return unix.Fsync(f.fd)
	})
	if err != nil {
		return f.err("fsync", err)
	}
	return nil
}

// Allocate is fallocate(2).
func (f *File) Allocate(mode uint32, off, length int64) error {
	if err := retry(func() error { return unix.Fallocate(f.fd, mode, off, length) }); err != nil {
		return f.err("fallocate", err)
	}
	return nil
}

// CopyFileRange copies n bytes from f at srcOff to dst at dstOff in the
// kernel; dst must be a File of a Local service (else EXDEV). It returns the
// number of bytes copied, short only at the end of f.
func (f *File) CopyFileRange(srcOff int64, dst fs.File, dstOff int64, n int64) (int64, error) {
	d, ok := dst.(*File)
	if !ok {
		return 0, fs.PathError("copy_file_range", f.name, syscall.EXDEV)
	}
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return 0, fs.PathError("copy_file_range", f.name, syscall.EINVAL)
	}
	rfd, wfd := f.fd, d.fd
	if f.direct {
		fd, err := f.buffered()
		if err != nil {
			return 0, f.err("copy_file_range", err)
		}
		rfd = fd
	}
	if d.direct {
		fd, err := d.buffered()
		if err != nil {
			return 0, d.err("copy_file_range", err)
		}
		wfd = fd
	}
	done, err := CopyRange(rfd, srcOff, wfd, dstOff, n)
	if err != nil {
		return done, f.err("copy_file_range", err)
	}
	return done, nil
}

// CopyRange copies n bytes from rfd at roff to wfd at woff with
// copy_file_range(2), in calls of at most 1 GiB, retrying EINTR. It returns
// the bytes copied, short only at the end of rfd, and the kernel's error.
func CopyRange(rfd int, roff int64, wfd int, woff int64, n int64) (int64, error) {
	var done int64
	for done < n {
		r, w := roff+done, woff+done
		c, err := unix.CopyFileRange(rfd, &r, wfd, &w, int(min(n-done, 1<<30)), 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if c == 0 {
			break
		}
		done += int64(c)
	}
	return done, nil
}

// Close releases the descriptors. A second Close fails with EBADF.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return fs.PathError("close", f.name, syscall.EBADF)
	}
	if f.bufFd >= 0 {
		_ = unix.Close(f.bufFd)
	}
	if err := unix.Close(f.fd); err != nil && err != unix.EINTR {
		return f.err("close", err)
	}
	return nil
}

// String names the file for logs.
func (f *File) String() string { return fmt.Sprintf("local.File(%s)", f.name) }
