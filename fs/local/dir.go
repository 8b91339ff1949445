package local

import (
	"encoding/binary"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Dir streams a directory with getdents64(2), one buffer at a time, so a huge
// directory is never read whole. Entry order and the guarantee for entries
// added or removed meanwhile are the kernel's (no entry present throughout is
// missed or returned twice).
type Dir struct {
	fd     int
	name   string
	buf    []byte // getdents64 buffer
	pos    int    // next unread byte of buf[:end]
	end    int
	eof    bool
	closed atomic.Bool
}

const direntBufSize = 32 << 10

// Offsets inside struct linux_dirent64.
const (
	direntIno    = 0
	direntReclen = 16
	direntType   = 18
	direntName   = 19
)

// ReadDir returns up to n entries (all remaining if n <= 0), never "." or "..".
func (d *Dir) ReadDir(n int) ([]fs.Dirent, error) {
	var out []fs.Dirent
	for n <= 0 || len(out) < n {
		if d.pos >= d.end {
			if d.eof {
				break
			}
			if err := d.fill(); err != nil {
				return out, err
			}
			continue
		}
		rec := d.buf[d.pos:d.end]
		if len(rec) < direntName {
			return out, fs.PathError("readdir", d.name, syscall.EIO)
		}
		reclen := int(binary.NativeEndian.Uint16(rec[direntReclen:]))
		if reclen < direntName || reclen > len(rec) {
			return out, fs.PathError("readdir", d.name, syscall.EIO)
		}
		d.pos += reclen
		nameBytes := rec[direntName:reclen]
		for i, c := range nameBytes {
			if c == 0 {
				nameBytes = nameBytes[:i]
				break
			}
		}
		name := string(nameBytes)
		if name == "." || name == ".." {
			continue
		}
		out = append(out, fs.Dirent{
			Name: name,
			Ino:  binary.NativeEndian.Uint64(rec[direntIno:]),
			Type: rec[direntType],
		})
	}
	if out == nil {
		out = []fs.Dirent{}
	}
	return out, nil
}

func (d *Dir) fill() error {
	if d.buf == nil {
		d.buf = make([]byte, direntBufSize)
	}
	for {
		n, err := unix.Getdents(d.fd, d.buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return pathErr("readdir", d.name, err)
		}
		d.pos, d.end = 0, n
		d.eof = n == 0
		return nil
	}
}

// Close releases the directory descriptor.
func (d *Dir) Close() error {
	if d.closed.Swap(true) {
		return fs.PathError("closedir", d.name, syscall.EBADF)
	}
	if err := unix.Close(d.fd); err != nil && err != unix.EINTR {
		return pathErr("closedir", d.name, err)
	}
	return nil
}
