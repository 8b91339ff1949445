package union_test

import (
	"context"
	"sync"
	"syscall"

	"polytropon/fs"
)

// hookService wraps a real service and lets a test intercept calls: the
// fault-injection (errorfs-style) and blocking wrappers of the union tests.
// A nil hook passes the call through.
type hookService struct {
	fs.Service
	// onOpen runs before Open; a non-nil error fails the call.
	onOpen func(name string, flags int) error
	// onRename runs before Rename.
	onRename func(oldname, newname string) error
	// wrapFile may replace the file Open returns.
	wrapFile func(name string, f fs.File) fs.File
}

func (h *hookService) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	if h.onOpen != nil {
		if err := h.onOpen(name, flags); err != nil {
			return nil, err
		}
	}
	f, err := h.Service.Open(ctx, name, flags, mode)
	if err == nil && h.wrapFile != nil {
		f = h.wrapFile(name, f)
	}
	return f, err
}

func (h *hookService) Rename(ctx context.Context, oldname, newname string, flags uint32) error {
	if h.onRename != nil {
		if err := h.onRename(oldname, newname); err != nil {
			return err
		}
	}
	return h.Service.Rename(ctx, oldname, newname, flags)
}

// hookFile intercepts Pread and Pwrite of one file.
type hookFile struct {
	fs.File
	onPread  func(off int64) error
	onPwrite func(off int64) error
}

func (f *hookFile) Pread(p []byte, off int64) (int, error) {
	if f.onPread != nil {
		if err := f.onPread(off); err != nil {
			return 0, err
		}
	}
	return f.File.Pread(p, off)
}

func (f *hookFile) Pwrite(p []byte, off int64) (int, error) {
	if f.onPwrite != nil {
		if err := f.onPwrite(off); err != nil {
			return 0, err
		}
	}
	return f.File.Pwrite(p, off)
}

// gate blocks the reads of one file until opened: the first read announces
// itself on entered.
type gate struct {
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}), release: make(chan struct{})} }

func (g *gate) wait(int64) error {
	g.once.Do(func() { close(g.entered) })
	<-g.release
	return nil
}

// failAfter fails every call after the first n with EIO.
func failAfter(n int) func(int64) error {
	var mu sync.Mutex
	calls := 0
	return func(int64) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls > n {
			return &fsError{syscall.EIO}
		}
		return nil
	}
}

type fsError struct{ errno syscall.Errno }

func (e *fsError) Error() string { return "injected: " + e.errno.Error() }
func (e *fsError) Unwrap() error { return e.errno }

// countingService counts the calls that reach a branch.
type countingService struct {
	fs.Service
	mu    sync.Mutex
	calls map[string]int
}

func (c *countingService) count(op string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.calls == nil {
		c.calls = map[string]int{}
	}
	c.calls[op]++
}

func (c *countingService) reset() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	got := c.calls
	c.calls = nil
	return got
}

func (c *countingService) Lstat(ctx context.Context, name string) (fs.Stat, error) {
	c.count("lstat")
	return c.Service.Lstat(ctx, name)
}

func (c *countingService) Stat(ctx context.Context, name string) (fs.Stat, error) {
	c.count("stat")
	return c.Service.Stat(ctx, name)
}

func (c *countingService) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	c.count("open")
	return c.Service.Open(ctx, name, flags, mode)
}

func (c *countingService) OpenDir(ctx context.Context, name string) (fs.Dir, error) {
	c.count("opendir")
	return c.Service.OpenDir(ctx, name)
}

func (c *countingService) Readlink(ctx context.Context, name string) (string, error) {
	c.count("readlink")
	return c.Service.Readlink(ctx, name)
}
