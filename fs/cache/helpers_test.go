package cache_test

import (
	"context"
	"sync/atomic"

	"polytropon/fs"
)

// countingService wraps a real service and counts the data calls that
// reach it: the probe of the read-ahead, sharing and sync tests.
type countingService struct {
	fs.Service
	preads, pwrites, syncs atomic.Int64
	preadBytes             atomic.Int64
}

func (c *countingService) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	f, err := c.Service.Open(ctx, name, flags, mode)
	if err != nil {
		return nil, err
	}
	return &countingFile{File: f, c: c}, nil
}

type countingFile struct {
	fs.File
	c *countingService
}

func (f *countingFile) Pread(p []byte, off int64) (int, error) {
	f.c.preads.Add(1)
	n, err := f.File.Pread(p, off)
	f.c.preadBytes.Add(int64(n))
	return n, err
}

func (f *countingFile) Pwrite(p []byte, off int64) (int, error) {
	f.c.pwrites.Add(1)
	return f.File.Pwrite(p, off)
}

func (f *countingFile) Sync(datasync bool) error {
	f.c.syncs.Add(1)
	return f.File.Sync(datasync)
}

type ctxType = context.Context

// bg is the context of the crash child, which has no testing.T.
func bg() ctxType { return context.Background() }
