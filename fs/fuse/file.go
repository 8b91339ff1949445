package fuse

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"polytropon/fs"
)

// Compile-time checks. fileHandle deliberately does not implement
// fusefs.FilePassthroughFder: the kernel must send every read and write to
// the daemon.
var (
	_ fusefs.FileReader    = (*fileHandle)(nil)
	_ fusefs.FileWriter    = (*fileHandle)(nil)
	_ fusefs.FileFlusher   = (*fileHandle)(nil)
	_ fusefs.FileFsyncer   = (*fileHandle)(nil)
	_ fusefs.FileReleaser  = (*fileHandle)(nil)
	_ fusefs.FileAllocater = (*fileHandle)(nil)
)

// fileHandle is an open file of the service. go-fuse calls Release only
// after every other call on the handle has returned, which is the fs.File
// contract for Close.
type fileHandle struct {
	f fs.File
}

// Read implements fusefs.FileReader.
func (h *fileHandle) Read(_ context.Context, dest []byte, off int64) (gofuse.ReadResult, syscall.Errno) {
	n, err := h.f.Pread(dest, off)
	if err != nil && n == 0 {
		return nil, errno(err)
	}
	return gofuse.ReadResultData(dest[:n]), 0
}

// Write implements fusefs.FileWriter. A failure after some bytes were
// written is a short write; the caller's next write sees the error.
func (h *fileHandle) Write(_ context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := h.f.Pwrite(data, off)
	if err != nil && n == 0 {
		return 0, errno(err)
	}
	return uint32(n), 0
}

// Flush implements fusefs.FileFlusher (close(2) of one descriptor). Data
// written through Pwrite is already in the service, and close does not
// imply fsync, so there is nothing to do.
func (h *fileHandle) Flush(context.Context) syscall.Errno { return 0 }

// Fsync implements fusefs.FileFsyncer; bit 0 of flags is fdatasync.
func (h *fileHandle) Fsync(_ context.Context, flags uint32) syscall.Errno {
	return errno(h.f.Sync(flags&1 != 0))
}

// Release implements fusefs.FileReleaser.
func (h *fileHandle) Release(context.Context) syscall.Errno { return errno(h.f.Close()) }

// Allocate implements fusefs.FileAllocater (fallocate(2)).
func (h *fileHandle) Allocate(_ context.Context, off, size uint64, mode uint32) syscall.Errno {
	return errno(h.f.Allocate(mode, int64(off), int64(size)))
}
