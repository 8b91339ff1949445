package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"time"

	pfs "polytropon/fs"
	"polytropon/internal/units"
)

func init() {
	Register("fileserver", func() Workload {
		// Filebench fileserver.f defaults; the papers' FLS uses
		// nfiles = 1000, filesize = 5m, duration = 120s.
		return &Fileserver{
			Dir:            "fileserver",
			NFiles:         10000,
			MeanDirWidth:   20,
			FileSize:       128 << 10,
			SizeGamma:      1.5,
			DirGamma:       1.5,
			Prealloc:       80,
			NThreads:       50,
			IOSize:         1 << 20,
			MeanAppendSize: 16 << 10,
			Pick:           "rotor",
			Duration:       60 * time.Second,
		}
	})
}

// Fileserver is Filebench's fileserver personality (FLS): each thread loops
// createfile, writewholefile, closefile, openfile, appendfilerand, closefile,
// openfile, readwholefile, closefile, deletefile, statfile over one fileset.
// An op is one flowop; Latency has one histogram per flowop kind.
type Fileserver struct {
	Dir            string        `toml:"dir"`            // parent of the fileset "bigfileset", inside the container
	NFiles         int           `toml:"nfiles"`         // fileset entries
	MeanDirWidth   int           `toml:"meandirwidth"`   // mean entries per directory
	FileSize       units.Size    `toml:"filesize"`       // mean file size
	SizeGamma      float64       `toml:"size_gamma"`     // gamma shape of file sizes (0 = all equal)
	DirGamma       float64       `toml:"dir_gamma"`      // gamma shape of directory width and depth (0 = fixed)
	Prealloc       int           `toml:"prealloc"`       // percent of entries created before the run
	NThreads       int           `toml:"nthreads"`       // threads
	IOSize         units.Size    `toml:"iosize"`         // chunk of writewholefile and readwholefile
	MeanAppendSize units.Size    `toml:"meanappendsize"` // appendfilerand appends uniform [1, this] bytes
	Pick           string        `toml:"pick"`           // "rotor" (Filebench) or "random"
	Duration       time.Duration `toml:"duration"`       // run time

	set *fileset
}

func (w *Fileserver) Name() string { return "fileserver" }

// MemoryNeed is a read buffer of iosize per thread and the write buffer.
func (w *Fileserver) MemoryNeed() int64 { return int64(w.NThreads+1) * int64(w.IOSize) }

// DataBytes is the file set: nfiles of filesize on average.
func (w *Fileserver) DataBytes() int64 { return int64(w.NFiles) * int64(w.FileSize) }

func (w *Fileserver) Validate() error {
	return errors.Join(
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "nfiles", int64(w.NFiles), 1, 1<<26),
		checkRange(w.Name(), "meandirwidth", int64(w.MeanDirWidth), 1, 1<<20),
		checkRange(w.Name(), "filesize", int64(w.FileSize), 0, 1<<40),
		checkGamma(w.Name(), "size_gamma", w.SizeGamma),
		checkGamma(w.Name(), "dir_gamma", w.DirGamma),
		checkRange(w.Name(), "prealloc", int64(w.Prealloc), 0, 100),
		checkRange(w.Name(), "nthreads", int64(w.NThreads), 1, 4096),
		checkRange(w.Name(), "iosize", int64(w.IOSize), 1, 1<<30),
		checkRange(w.Name(), "meanappendsize", int64(w.MeanAppendSize), 1, 1<<30),
		checkPick(w.Name(), w.Pick),
		checkDuration(w.Name(), "duration", w.Duration),
	)
}

func (w *Fileserver) Prepare(ctx context.Context, env *Env) error {
	rng := rand.New(rand.NewPCG(uint64(env.Seed), 0xf11e))
	w.set = newFileset(filesetSpec{
		root: w.Dir + "/bigfileset", entries: w.NFiles, dirWidth: float64(w.MeanDirWidth),
		dirGamma: w.DirGamma, meanSize: float64(w.FileSize), sizeGamma: w.SizeGamma,
		random: w.Pick == "random",
	}, rng)
	return w.set.create(ctx, env.FS, w.Prealloc, rng, ioBuffer(int64(w.IOSize), env.Seed), 4)
}

func (w *Fileserver) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.set == nil {
		return nil, fmt.Errorf("workloads: %s: Run before Prepare", w.Name())
	}
	set, fsys := w.set, env.FS
	wbuf := ioBuffer(max(int64(w.IOSize), int64(w.MeanAppendSize)), env.Seed)
	rbufs := make([][]byte, w.NThreads)
	for i := range rbufs {
		rbufs[i] = make([]byte, w.IOSize)
	}
	res, err := runWorkers(ctx, w.NThreads, w.Duration, env.Seed, func(ctx context.Context, tid int, rng *rand.Rand, st *opStats) error {
		rbuf := rbufs[tid]

		// createfile, writewholefile, closefile
		if i := set.pick(pickNoExist, rng); i >= 0 {
			e := &set.entries[i]
			t := time.Now()
			f, err := fsys.Open(ctx, e.path, syscall.O_CREAT|syscall.O_RDWR, 0o666)
			set.created(i, err == nil)
			if err != nil {
				return flowopErr("createfile", e.path, err)
			}
			st.done("createfile", t)
			t = time.Now()
			var off int64
			for off < e.size && err == nil {
				var n int
				n, err = f.Pwrite(wbuf[:min(int64(w.IOSize), e.size-off)], off)
				off += int64(n)
				if n == 0 && err == nil {
					err = io.ErrShortWrite
				}
			}
			st.writtenBytes += off
			if err == nil {
				st.done("writewholefile", t)
			}
			t = time.Now()
			cerr := f.Close()
			st.done("closefile", t)
			set.release(i)
			if err = errors.Join(err, cerr); err != nil {
				return flowopErr("writewholefile", e.path, err)
			}
		} else {
			noResource(st)
		}

		// openfile, appendfilerand, closefile
		if ctx.Err() != nil {
			return nil
		}
		if i := set.pick(pickExisting, rng); i >= 0 {
			err := set.openDoClose(ctx, fsys, st, i, syscall.O_RDWR, "appendfilerand", func(f pfs.File) error {
				n := 1 + rng.Int64N(int64(w.MeanAppendSize))
				a, err := f.Stat() // lseek(SEEK_END)
				if err != nil {
					return err
				}
				m, err := f.Pwrite(wbuf[:n], a.Size)
				st.writtenBytes += int64(m)
				return err
			})
			if err != nil {
				return err
			}
		} else {
			noResource(st)
		}

		// openfile, readwholefile, closefile
		if ctx.Err() != nil {
			return nil
		}
		if i := set.pick(pickExisting, rng); i >= 0 {
			err := set.openDoClose(ctx, fsys, st, i, syscall.O_RDWR, "readwholefile", func(f pfs.File) error {
				n, err := readWhole(f, rbuf)
				st.readBytes += n
				return err
			})
			if err != nil {
				return err
			}
		} else {
			noResource(st)
		}

		// deletefile
		if ctx.Err() != nil {
			return nil
		}
		if i := set.pick(pickDeletable, rng); i >= 0 {
			path := set.entries[i].path
			t := time.Now()
			err := fsys.Unlink(ctx, path)
			set.deleted(i, err == nil)
			if err != nil {
				return flowopErr("deletefile", path, err)
			}
			st.done("deletefile", t)
		} else {
			noResource(st)
		}

		// statfile
		if ctx.Err() != nil {
			return nil
		}
		if i := set.pick(pickExisting, rng); i >= 0 {
			path := set.entries[i].path
			t := time.Now()
			_, err := fsys.Stat(ctx, path)
			set.release(i)
			if err != nil {
				return flowopErr("statfile", path, err)
			}
			st.done("statfile", t)
		} else {
			noResource(st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("workloads: %s: %w", w.Name(), err)
	}
	res.Counters["files_existing"] = float64(set.existing())
	return res, nil
}

func checkGamma(workload, field string, g float64) error {
	if g < 0 || g > 1000 {
		return fmt.Errorf("workloads: %s: %s must be in [0, 1000], got %g", workload, field, g)
	}
	return nil
}

func checkPick(workload, pick string) error {
	if pick != "rotor" && pick != "random" {
		return fmt.Errorf("workloads: %s: pick must be \"rotor\" or \"random\", got %q", workload, pick)
	}
	return nil
}
