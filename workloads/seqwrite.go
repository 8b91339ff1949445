package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"time"

	pfs "polytropon/fs"
	"polytropon/internal/units"
)

func init() {
	Register("seqwrite", func() Workload {
		// Filebench singlestreamwrite.f defaults; the papers' Seqwrite
		// uses a 1 GB file, 16 threads and 120 s.
		return &Seqwrite{
			Dir:      "seqwrite",
			IOSize:   1 << 20,
			NThreads: 1,
			Duration: 60 * time.Second,
		}
	})
}

// Seqwrite is Filebench's singlestreamwrite personality: each thread writes
// IOSize blocks sequentially into "largefile1", which Prepare creates empty.
// As in Filebench every thread has its own handle and offset on the one
// shared file (so with several threads they overwrite each other's blocks);
// FilePerThread gives each thread its own file instead. The file grows for
// the whole run unless WrapSize bounds it (the offset then restarts at 0).
type Seqwrite struct {
	Dir           string        `toml:"dir"`
	IOSize        units.Size    `toml:"iosize"`
	NThreads      int           `toml:"nthreads"`
	FilePerThread bool          `toml:"file_per_thread"`
	WrapSize      units.Size    `toml:"wrap_size"` // 0 = grow without bound (Filebench)
	Sync          bool          `toml:"sync"`      // fdatasync after every write (Filebench dsync attribute)
	Duration      time.Duration `toml:"duration"`

	prepared bool
}

func (w *Seqwrite) Name() string { return "seqwrite" }

func (w *Seqwrite) Validate() error {
	return errors.Join(
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "nthreads", int64(w.NThreads), 1, 4096),
		checkRange(w.Name(), "wrap_size", int64(w.WrapSize), 0, 1<<50),
		checkDuration(w.Name(), "duration", w.Duration),
	)
}

func (w *Seqwrite) file(tid int) string {
	if w.FilePerThread {
		return w.Dir + "/largefile" + strconv.Itoa(tid+1)
	}
	return w.Dir + "/largefile1"
}

func (w *Seqwrite) Prepare(ctx context.Context, env *Env) error {
	if err := removeAll(ctx, env.FS, w.Dir); err != nil {
		return err
	}
	if err := mkdirAll(ctx, env.FS, w.Dir); err != nil {
		return err
	}
	for tid := range w.NThreads {
		if err := writeFile(ctx, env.FS, w.file(tid), 0, nil); err != nil {
			return fmt.Errorf("workloads: %s: %w", w.Name(), err)
		}
	}
	w.prepared = true
	return nil
}

func (w *Seqwrite) Run(ctx context.Context, env *Env) (*Result, error) {
	if !w.prepared {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	buf := ioBuffer(int64(w.IOSize), env.Seed)
	files := make([]pfs.File, w.NThreads)
	offs := make([]int64, w.NThreads)
	for tid := range files {
		f, err := env.FS.Open(ctx, w.file(tid), syscall.O_WRONLY, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
		}
		files[tid] = f
	}
	defer closeAll(files)
	res, err := runWorkers(ctx, w.NThreads, w.Duration, env.Seed, func(ctx context.Context, tid int, _ *rand.Rand, st *opStats) error {
		t := time.Now()
		n, err := files[tid].Pwrite(buf, offs[tid])
		st.writtenBytes += int64(n)
		if err == nil && w.Sync {
			err = files[tid].Sync(true)
		}
		if err != nil {
			return flowopErr("write", w.file(tid), err)
		}
		st.done("write", t)
		offs[tid] += int64(n)
		if w.WrapSize > 0 && offs[tid]+int64(len(buf)) > int64(w.WrapSize) {
			offs[tid] = 0
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	return res, nil
}

func closeAll(files []pfs.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}
