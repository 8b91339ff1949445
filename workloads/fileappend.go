package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"

	"polytropon/internal/units"
)

func init() {
	Register("fileappend", func() Workload {
		// The papers' Fileappend (fig 11a): one 1 MB append to a 2 GB file.
		return &Fileappend{
			File:       "bigfile",
			FileSize:   2 << 30,
			AppendSize: 1 << 20,
			IOSize:     1 << 20,
			Appends:    1,
			Create:     true,
		}
	})
}

// Fileappend opens File O_WRONLY|O_APPEND, appends AppendSize bytes (in
// IOSize writes) and closes it; one op = open + append + close, repeated
// Appends times. The file is meant to live in a clone's shared lower image,
// so that the first append triggers the union's copy-up (about as much read
// as written). Prepare reuses an existing file of at least FileSize bytes
// and creates one only when it is missing and Create is set.
type Fileappend struct {
	File       string     `toml:"file"`
	FileSize   units.Size `toml:"filesize"`
	AppendSize units.Size `toml:"append_size"`
	IOSize     units.Size `toml:"iosize"`
	Appends    int        `toml:"appends"`
	Create     bool       `toml:"create"`

	prepared bool
}

func (w *Fileappend) Name() string { return "fileappend" }

func (w *Fileappend) Validate() error {
	return errors.Join(
		checkName(w.Name(), "file", w.File),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 0, 1<<50),
		checkRange(w.Name(), "append_size", int64(w.AppendSize), 1, 1<<40),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "appends", int64(w.Appends), 1, 1<<30),
	)
}

func (w *Fileappend) Prepare(ctx context.Context, env *Env) error {
	if err := ensureFile(ctx, env.FS, w.File, int64(w.FileSize), w.Create, ioBuffer(int64(w.IOSize), env.Seed)); err != nil {
		return fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	w.prepared = true
	return nil
}

func (w *Fileappend) Run(ctx context.Context, env *Env) (*Result, error) {
	if !w.prepared {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	st := newOpStats()
	buf := ioBuffer(int64(w.IOSize), env.Seed)
	start := time.Now()
	for range w.Appends {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
		}
		t0 := time.Now()
		f, err := env.FS.Open(ctx, w.File, syscall.O_WRONLY|syscall.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), flowopErr("open", w.File, err))
		}
		st.step("open", t0)
		t := time.Now()
		for left := int64(w.AppendSize); left > 0 && err == nil; {
			var n int
			n, err = f.Pwrite(buf[:min(left, int64(len(buf)))], 0)
			st.writtenBytes += int64(n)
			left -= int64(n)
			if n == 0 && err == nil {
				err = io.ErrShortWrite
			}
		}
		if err == nil {
			st.step("write", t)
		}
		t = time.Now()
		cerr := f.Close()
		if err = errors.Join(err, cerr); err != nil {
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), flowopErr("append", w.File, err))
		}
		st.step("close", t)
		st.done("append", t0)
	}
	// One op is the whole open+append+close; the steps have their own
	// histograms but are not ops.
	return mergeStats([]*opStats{st}, time.Since(start)), nil
}
