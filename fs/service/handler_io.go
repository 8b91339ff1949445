package service

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// The data calls on an open file: read, write and lseek, at the file's
// offset or at a given one, through the buffer's data area or, with
// FlagCMA, the client's memory (handler_cma.go).

// ioLen validates the byte count and the data range of a data call. With
// FlagCMA the payload lives in the client process; otherwise in the data
// area (Out for reads, Data for writes).
func ioLen(req *wire.Request, rg wire.Range, b *wire.Buffer) ([]byte, int, syscall.Errno) {
	n := req.Args[wire.LenArg]
	if req.Flags&wire.FlagCMA != 0 {
		if n > maxCMA || req.Args[wire.AddrArg] == 0 {
			return nil, 0, syscall.EINVAL
		}
		return nil, int(n), 0
	}
	p, e := b.Bytes(rg)
	if e != 0 {
		return nil, 0, e
	}
	if n > uint64(len(p)) {
		return nil, 0, syscall.EINVAL
	}
	return p[:n], int(n), 0
}

// read serves CallRead and CallPread.
func (s *Service) read(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	dst, n, e := ioLen(req, req.Out, b)
	if e != 0 {
		return 0, e, true
	}
	var off int64
	if req.Call == wire.CallPread {
		off = int64(req.Args[wire.OffArg])
		if off < 0 {
			return 0, syscall.EINVAL, false
		}
	} else {
		f.mu.Lock()
		defer f.mu.Unlock()
		off = f.off
	}
	if f.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return 0, syscall.EBADF, false
	}
	var got int
	var err error
	if req.Flags&wire.FlagCMA != 0 {
		got, err = readToProcess(f.file, c.pid, uintptr(req.Args[wire.AddrArg]), n, off)
	} else {
		got, err = f.file.Pread(dst, off)
	}
	if err != nil && err != io.EOF && got == 0 {
		return 0, fs.Errno(err), false
	}
	if req.Call == wire.CallRead {
		f.off += int64(got)
	}
	return int64(got), 0, false
}

// write serves CallWrite and CallPwrite.
func (s *Service) write(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	src, n, e := ioLen(req, req.Data, b)
	if e != 0 {
		return 0, e, true
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return 0, syscall.EBADF, false
	}
	appendMode := f.flags&unix.O_APPEND != 0
	var off int64
	if req.Call == wire.CallPwrite {
		off = int64(req.Args[wire.OffArg])
		if off < 0 && !appendMode {
			return 0, syscall.EINVAL, false
		}
	} else {
		f.mu.Lock()
		defer f.mu.Unlock()
		off = f.off
	}
	var put int
	var err error
	if req.Flags&wire.FlagCMA != 0 {
		put, err = writeFromProcess(f.file, c.pid, uintptr(req.Args[wire.AddrArg]), n, off)
	} else {
		put, err = f.file.Pwrite(src, off)
	}
	if err != nil && put == 0 {
		return 0, fs.Errno(err), false
	}
	if req.Call == wire.CallWrite {
		if appendMode {
			if st, serr := f.file.Stat(); serr == nil {
				f.off = st.Size
			}
		} else {
			f.off += int64(put)
		}
	}
	return int64(put), 0, false
}

// lseek serves CallLseek; an lseek to 0 of a directory rewinds its stream.
func (s *Service) lseek(f *openFile, off int64, whence int) (int64, syscall.Errno, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		st, err := f.file.Stat()
		if err != nil {
			return 0, fs.Errno(err), false
		}
		base = st.Size
	default:
		return 0, syscall.EINVAL, false
	}
	n := base + off
	if n < 0 || (off > 0 && n < base) {
		return 0, syscall.EINVAL, false
	}
	f.off = n
	if f.dir != nil && n == 0 { // rewinddir
		f.dir.Close()
		f.dir, f.pending, f.dirPos, f.dirDone, f.dots = nil, nil, 0, false, 0
	}
	return n, 0, false
}
