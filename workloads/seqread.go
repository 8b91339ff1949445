package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"syscall"
	"time"

	pfs "polytropon/fs"
	"polytropon/internal/units"
)

func init() {
	Register("seqread", func() Workload {
		// Filebench singlestreamread.f defaults; the papers' Seqread
		// uses a 1 GB file, 16 threads and 120 s.
		return &Seqread{
			Dir:      "seqread",
			FileSize: 5 << 30,
			IOSize:   1 << 20,
			NThreads: 1,
			Duration: 60 * time.Second,
		}
	})
}

// Seqread is Filebench's singlestreamread personality: Prepare creates
// "largefile1" of FileSize (reusing an existing one that is large enough);
// each thread reads it in IOSize blocks sequentially with its own offset,
// rewinding at the end of the file.
//
// Filebench's threads all start at offset 0, so they read the file as a
// convoy: one thread misses a block and the others find it cached (with
// n threads, n-1 of n reads hit whatever the file's size). With Spread
// thread i starts at i/n of the file (a whole block) and a later Run of
// the same workload (the measured one after the warm-up) goes on where
// the last one stopped, so the threads are n streams evenly spaced over
// the file and a file larger than the cache misses on every re-read (the
// Justitia re-read experiments; docs/cache.md).
type Seqread struct {
	Dir      string        `toml:"dir"`
	FileSize units.Size    `toml:"filesize"`
	IOSize   units.Size    `toml:"iosize"`
	NThreads int           `toml:"nthreads"`
	Spread   bool          `toml:"spread"`
	Duration time.Duration `toml:"duration"`

	prepared bool
	resume   []int64 // with Spread: where each thread stopped in the last Run
}

func (w *Seqread) Name() string { return "seqread" }

func (w *Seqread) Validate() error {
	return errors.Join(
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 1, 1<<50),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "nthreads", int64(w.NThreads), 1, 4096),
		checkDuration(w.Name(), "duration", w.Duration),
		w.checkSpread(),
	)
}

func (w *Seqread) checkSpread() error {
	if w.Spread && w.NThreads > 0 && int64(w.FileSize) < int64(w.NThreads)*int64(w.IOSize) {
		return fmt.Errorf("workloads: %s: spread: filesize %d is less than nthreads x iosize (%d x %d): the threads would not start at distinct blocks",
			w.Name(), int64(w.FileSize), w.NThreads, int64(w.IOSize))
	}
	return nil
}

func (w *Seqread) path() string { return w.Dir + "/largefile1" }

// start is thread tid's first offset: 0, or with Spread where the last
// Run left it, else its i/n of the file in whole blocks.
func (w *Seqread) start(tid int) int64 {
	switch {
	case !w.Spread:
		return 0
	case len(w.resume) == w.NThreads:
		return w.resume[tid]
	}
	per := int64(w.FileSize) / int64(w.NThreads)
	return (per - per%int64(w.IOSize)) * int64(tid)
}

func (w *Seqread) Prepare(ctx context.Context, env *Env) error {
	if err := ensureFile(ctx, env.FS, w.path(), int64(w.FileSize), true, ioBuffer(int64(w.IOSize), env.Seed)); err != nil {
		return fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	w.prepared = true
	return nil
}

func (w *Seqread) Run(ctx context.Context, env *Env) (*Result, error) {
	if !w.prepared {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	files := make([]pfs.File, w.NThreads)
	bufs := make([][]byte, w.NThreads)
	offs := make([]int64, w.NThreads)
	for tid := range files {
		offs[tid] = w.start(tid)
		f, err := env.FS.Open(ctx, w.path(), syscall.O_RDONLY, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
		}
		files[tid], bufs[tid] = f, make([]byte, w.IOSize)
	}
	defer closeAll(files)
	res, err := runWorkers(ctx, w.NThreads, w.Duration, env.Seed, func(ctx context.Context, tid int, _ *rand.Rand, st *opStats) error {
		t := time.Now()
		n, err := files[tid].Pread(bufs[tid], offs[tid])
		if err != nil {
			return flowopErr("read", w.path(), err)
		}
		st.readBytes += int64(n)
		st.done("read", t)
		offs[tid] += int64(n)
		if n < len(bufs[tid]) {
			offs[tid] = 0
			st.counters["rewinds"]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	if w.Spread {
		w.resume = offs
	}
	return res, nil
}
