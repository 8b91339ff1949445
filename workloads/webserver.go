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
	Register("webserver", func() Workload {
		// Filebench webserver.f defaults; the papers' WBS uses
		// nfiles = 200000 (16 KB each) and nthreads = 50.
		return &Webserver{
			Dir:            "webserver",
			NFiles:         1000,
			MeanDirWidth:   20,
			FileSize:       16 << 10,
			SizeGamma:      1.5,
			DirGamma:       1.5,
			NThreads:       100,
			IOSize:         1 << 20,
			MeanAppendSize: 16 << 10,
			Reads:          10,
			Pick:           "rotor",
			Duration:       60 * time.Second,
		}
	})
}

// Webserver is Filebench's webserver personality (WBS): each thread does
// Reads times (openfile, readwholefile, closefile) on a read-only fileset
// "bigfileset", then appendfilerand on the one-file fileset "logfiles",
// whose handle the thread keeps open across loops (Filebench's fd=2).
type Webserver struct {
	Dir            string        `toml:"dir"`
	NFiles         int           `toml:"nfiles"`
	MeanDirWidth   int           `toml:"meandirwidth"`
	FileSize       units.Size    `toml:"filesize"`
	SizeGamma      float64       `toml:"size_gamma"`
	DirGamma       float64       `toml:"dir_gamma"`
	NThreads       int           `toml:"nthreads"`
	IOSize         units.Size    `toml:"iosize"`
	MeanAppendSize units.Size    `toml:"meanappendsize"`
	Reads          int           `toml:"reads"` // open-read-close triples per loop (10 in webserver.f)
	Pick           string        `toml:"pick"`
	Duration       time.Duration `toml:"duration"`

	set, logs *fileset
}

func (w *Webserver) Name() string { return "webserver" }

// MemoryNeed is a read buffer of iosize per thread and the write buffer.
func (w *Webserver) MemoryNeed() int64 { return int64(w.NThreads+1) * int64(w.IOSize) }

// DataBytes is the file set: nfiles of filesize on average.
func (w *Webserver) DataBytes() int64 { return int64(w.NFiles) * int64(w.FileSize) }

func (w *Webserver) Validate() error {
	return errors.Join(
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "nfiles", int64(w.NFiles), 1, 1<<26),
		checkRange(w.Name(), "meandirwidth", int64(w.MeanDirWidth), 1, 1<<20),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 0, 1<<40),
		checkGamma(w.Name(), "size_gamma", w.SizeGamma),
		checkGamma(w.Name(), "dir_gamma", w.DirGamma),
		checkRange(w.Name(), "nthreads", int64(w.NThreads), 1, 4096),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "meanappendsize", int64(w.MeanAppendSize), 1, 1<<30),
		checkRange(w.Name(), "reads", int64(w.Reads), 0, 1<<20),
		checkPick(w.Name(), w.Pick),
		checkDuration(w.Name(), "duration", w.Duration),
	)
}

func (w *Webserver) Prepare(ctx context.Context, env *Env) error {
	rng := rand.New(rand.NewPCG(uint64(env.Seed), 0x3eb))
	buf := ioBuffer(int64(w.IOSize), env.Seed)
	spec := filesetSpec{
		root: w.Dir + "/bigfileset", entries: w.NFiles, dirWidth: float64(w.MeanDirWidth),
		dirGamma: w.DirGamma, meanSize: float64(w.FileSize), sizeGamma: w.SizeGamma,
		random: w.Pick == "random",
	}
	w.set = newFileset(spec, rng)
	if err := w.set.create(ctx, env.FS, 100, rng, buf, 4); err != nil {
		return err
	}
	spec.root, spec.entries = w.Dir+"/logfiles", 1
	w.logs = newFileset(spec, rng)
	return w.logs.create(ctx, env.FS, 100, rng, buf, 1)
}

func (w *Webserver) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.set == nil {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	set, fsys := w.set, env.FS
	logPath := w.logs.entries[0].path
	wbuf := ioBuffer(int64(w.MeanAppendSize), env.Seed)
	rbufs := make([][]byte, w.NThreads)
	logFiles := make([]pfs.File, w.NThreads)
	defer func() {
		for _, f := range logFiles {
			if f != nil {
				f.Close()
			}
		}
	}()
	res, err := runWorkers(ctx, w.NThreads, w.Duration, env.Seed, func(ctx context.Context, tid int, rng *rand.Rand, st *opStats) error {
		if rbufs[tid] == nil {
			rbufs[tid] = make([]byte, w.IOSize)
		}
		for range w.Reads {
			if ctx.Err() != nil {
				return nil
			}
			i := set.pick(pickExisting, rng)
			if i < 0 {
				noResource(st)
				continue
			}
			err := set.openDoClose(ctx, fsys, st, i, syscall.O_RDONLY, "readwholefile", func(f pfs.File) error {
				n, err := readWhole(f, rbufs[tid])
				st.readBytes += n
				return err
			})
			if err != nil {
				return err
			}
		}
		if ctx.Err() != nil {
			return nil
		}
		// appendfilerand on the log. Filebench opens it on first use
		// (untimed) and seeks to the end before each write; O_APPEND
		// makes the concurrent appends of all threads land intact.
		if logFiles[tid] == nil {
			f, err := fsys.Open(ctx, logPath, syscall.O_RDWR|syscall.O_APPEND, 0)
			if err != nil {
				return flowopErr("appendfilerand", logPath, err)
			}
			logFiles[tid] = f
		}
		n := 1 + rng.Int64N(int64(w.MeanAppendSize))
		t := time.Now()
		m, err := logFiles[tid].Pwrite(wbuf[:n], 0)
		st.writtenBytes += int64(m)
		if err != nil {
			return flowopErr("appendfilerand", logPath, err)
		}
		st.done("appendfilerand", t)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	return res, nil
}
