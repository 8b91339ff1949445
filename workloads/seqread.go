package workloads

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
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
// n threads, n-1 of n reads hit whatever the file's size). With
// SharedOffset the threads share one offset instead: each read takes the
// next block, so the file is read as one sequential stream with n reads
// in flight (a reader with read-ahead), each block once per pass, and a
// file larger than the cache misses on every re-read (the Justitia re-read
// experiments; docs/cache.md). The offset lives on from one Run to the
// next (the measured run goes on where the warm-up stopped).
type Seqread struct {
	Dir      string     `toml:"dir"`
	FileSize units.Size `toml:"filesize"`
	IOSize   units.Size `toml:"iosize"`
	NThreads int        `toml:"nthreads"`
	// SharedOffset: the threads take successive blocks of one offset.
	SharedOffset bool          `toml:"shared_offset"`
	Duration     time.Duration `toml:"duration"`

	prepared bool
	cursor   sharedCursor // with SharedOffset
}

// sharedCursor is the offset the threads share with SharedOffset.
type sharedCursor struct {
	mu  sync.Mutex
	off int64
}

// next returns the offset of the next block of a file of size bytes in
// blocks of n, and whether it rewound to the start of the file for it.
func (c *sharedCursor) next(n, size int64) (off int64, rewound bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off >= size {
		c.off, rewound = 0, true
	}
	off = c.off
	c.off += n
	return off, rewound
}

func (w *Seqread) Name() string { return "seqread" }

func (w *Seqread) Validate() error {
	return errors.Join(
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 1, 1<<50),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "nthreads", int64(w.NThreads), 1, 4096),
		checkDuration(w.Name(), "duration", w.Duration),
	)
}

func (w *Seqread) path() string { return w.Dir + "/largefile1" }

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
		f, err := env.FS.Open(ctx, w.path(), syscall.O_RDONLY, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
		}
		files[tid], bufs[tid] = f, make([]byte, w.IOSize)
	}
	defer closeAll(files)
	res, err := runWorkers(ctx, w.NThreads, w.Duration, env.Seed, func(ctx context.Context, tid int, _ *rand.Rand, st *opStats) error {
		if w.SharedOffset {
			off, rewound := w.cursor.next(int64(w.IOSize), int64(w.FileSize))
			if rewound {
				st.counters["rewinds"]++
			}
			offs[tid] = off
		}
		t := time.Now()
		n, err := files[tid].Pread(bufs[tid], offs[tid])
		if err != nil {
			return flowopErr("read", w.path(), err)
		}
		st.readBytes += int64(n)
		st.done("read", t)
		offs[tid] += int64(n)
		if n < len(bufs[tid]) && !w.SharedOffset {
			offs[tid] = 0
			st.counters["rewinds"]++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	return res, nil
}
