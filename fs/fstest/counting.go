package fstest

import (
	"context"
	"sync/atomic"

	"polytropon/fs"
)

// Counting wraps a service and counts the data calls that reach the files
// it opens: the probe of tests that a layer above (a cache, the kernel
// through FUSE) did or did not pass a read or write down.
type Counting struct {
	fs.Service
	Preads, Pwrites, Syncs atomic.Int64
	PreadBytes             atomic.Int64 // bytes the preads returned
}

// Open opens name below and counts the calls on the file.
func (c *Counting) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	f, err := c.Service.Open(ctx, name, flags, mode)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, c: c}, nil
}

type countingFile struct {
	fs.File
	c *Counting
}

func (f *countingFile) Pread(p []byte, off int64) (int, error) {
	f.c.Preads.Add(1)
	n, err := f.File.Pread(p, off)
	f.c.PreadBytes.Add(int64(n))
	return n, err
}

func (f *countingFile) Pwrite(p []byte, off int64) (int, error) {
	f.c.Pwrites.Add(1)
	return f.File.Pwrite(p, off)
}

func (f *countingFile) Sync(datasync bool) error {
	f.c.Syncs.Add(1)
	return f.File.Sync(datasync)
}
