package workloads

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"polytropon/internal/units"
)

func init() {
	Register("fileread", func() Workload {
		// The papers' Fileread (fig 11b): read a 2 GB file in 1 MB blocks.
		return &Fileread{
			File:     "bigfile",
			FileSize: 2 << 30,
			IOSize:   1 << 20,
			Passes:   1,
			Create:   true,
		}
	})
}

// Fileread opens File read-only, reads it from start to end in IOSize
// blocks and closes it, Passes times; one op = one block read. As for
// Fileappend the file normally lives in the clones' shared lower image;
// Prepare reuses it, or creates it when missing and Create is set.
type Fileread struct {
	File     string     `toml:"file"`
	FileSize units.Size `toml:"filesize"`
	IOSize   units.Size `toml:"iosize"`
	Passes   int        `toml:"passes"`
	Create   bool       `toml:"create"`

	prepared bool
}

func (w *Fileread) Name() string { return "fileread" }

func (w *Fileread) Validate() error {
	return errors.Join(
		checkName(w.Name(), "file", w.File),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 0, 1<<50),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "passes", int64(w.Passes), 1, 1<<30),
	)
}

func (w *Fileread) Prepare(ctx context.Context, env *Env) error {
	if err := ensureFile(ctx, env.FS, w.File, int64(w.FileSize), w.Create, ioBuffer(int64(w.IOSize), env.Seed)); err != nil {
		return fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	w.prepared = true
	return nil
}

func (w *Fileread) Run(ctx context.Context, env *Env) (*Result, error) {
	if !w.prepared {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	st := newOpStats()
	buf := make([]byte, w.IOSize)
	start := time.Now()
	for range w.Passes {
		t0 := time.Now()
		f, err := env.FS.Open(ctx, w.File, syscall.O_RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), flowopErr("open", w.File, err))
		}
		passOps := st.ops
		for off := int64(0); ; {
			if err = ctx.Err(); err != nil {
				break
			}
			t := time.Now()
			var n int
			n, err = f.Pread(buf, off)
			if err != nil || n == 0 {
				break
			}
			st.readBytes += int64(n)
			st.done("read", t)
			off += int64(n)
		}
		cerr := f.Close()
		if err = errors.Join(err, cerr); err != nil {
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), flowopErr("read", w.File, err))
		}
		// A whole pass is recorded apart and not counted as an op.
		st.step("pass", t0)
		st.counters["blocks_per_pass"] = float64(st.ops - passOps)
	}
	return mergeStats([]*opStats{st}, time.Since(start)), nil
}
