package workloads

// Helpers shared by the native Go workloads: per-goroutine op records, the
// worker loop, Filebench's gamma variate, and fs.Service utilities. All file
// I/O goes through an fs.Service, never the os package.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"sync"
	"syscall"
	"time"

	pfs "polytropon/fs"
	"polytropon/results"
)

// opStats is one goroutine's record: a latency histogram per op kind, op and
// byte counts. Not safe for concurrent use; merge with mergeStats.
type opStats struct {
	hist         map[string]*results.Histogram
	all          *results.Histogram
	ops          int64
	readBytes    int64
	writtenBytes int64
	counters     map[string]float64
}

func newOpStats() *opStats {
	return &opStats{hist: map[string]*results.Histogram{}, all: results.NewHistogram(), counters: map[string]float64{}}
}

// done records one completed op of kind that started at start.
func (s *opStats) done(kind string, start time.Time) {
	d := time.Since(start)
	h := s.hist[kind]
	if h == nil {
		h = results.NewHistogram()
		s.hist[kind] = h
	}
	h.Record(d)
	s.all.Record(d)
	s.ops++
}

// step records the latency of a part of an op under kind only, without
// counting an op or touching "all".
func (s *opStats) step(kind string, start time.Time) {
	h := s.hist[kind]
	if h == nil {
		h = results.NewHistogram()
		s.hist[kind] = h
	}
	h.Record(time.Since(start))
}

// mergeStats folds the per-goroutine records into a Result.
func mergeStats(stats []*opStats, elapsed time.Duration) *Result {
	r := &Result{Elapsed: elapsed, Latency: map[string]*results.Histogram{"all": results.NewHistogram()}, Counters: map[string]float64{}}
	var rd, wr int64
	for _, s := range stats {
		for k, h := range s.hist {
			if r.Latency[k] == nil {
				r.Latency[k] = results.NewHistogram()
			}
			r.Latency[k].Merge(h)
		}
		r.Latency["all"].Merge(s.all)
		r.Ops += s.ops
		rd += s.readBytes
		wr += s.writtenBytes
		for k, v := range s.counters {
			r.Counters[k] += v
		}
	}
	r.Bytes = rd + wr
	r.Counters["read_bytes"] = float64(rd)
	r.Counters["written_bytes"] = float64(wr)
	return r
}

// runWorkers runs body in n goroutines, each in a loop, until ctx ends or
// dur passes (dur <= 0: until ctx ends). body returns an error to stop the
// run; an error seen after the run's context ended is the deadline
// interrupting an op, not a failure. Each worker gets its own opStats and an
// RNG derived from seed and its index.
func runWorkers(ctx context.Context, n int, dur time.Duration, seed int64,
	body func(ctx context.Context, id int, rng *rand.Rand, st *opStats) error) (*Result, error) {
	var runCtx context.Context
	var cancel context.CancelFunc
	if dur > 0 {
		runCtx, cancel = context.WithTimeout(ctx, dur)
	} else {
		runCtx, cancel = context.WithCancel(ctx)
	}
	defer cancel()
	stats := make([]*opStats, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		stats[i] = newOpStats()
		rng := rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				if err := body(runCtx, i, rng, stats[i]); err != nil {
					if runCtx.Err() == nil {
						errs[i] = err
						cancel()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return mergeStats(stats, elapsed), nil
}

// gammaVariate draws from Gamma(shape, mean/shape), so its mean is mean:
// Filebench's cvar-gamma ("mean:M;gamma:G"). shape <= 0 returns mean.
// Marsaglia and Tsang's method; shape < 1 is boosted by U^(1/shape).
func gammaVariate(rng *rand.Rand, mean, shape float64) float64 {
	if shape <= 0 {
		return mean
	}
	scale := mean / shape
	boost := 1.0
	a := shape
	if a < 1 {
		boost = math.Pow(1-rng.Float64(), 1/a)
		a++
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := 1 - rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v * scale * boost
		}
	}
}

// ioBuffer returns n bytes of pseudo-random data (not zeros, so that no layer
// can store them sparsely or compress them to nothing).
func ioBuffer(n int64, seed int64) []byte {
	b := make([]byte, n)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// mkdirAll creates name and its parents in fsys.
func mkdirAll(ctx context.Context, fsys pfs.Service, name string) error {
	name = pfs.Clean(name)
	if name == "" {
		return nil
	}
	st, err := fsys.Stat(ctx, name)
	if err == nil {
		if st.IsDir() {
			return nil
		}
		return pfs.PathError("mkdir", name, syscall.ENOTDIR)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	parent, _ := pfs.Split(name)
	if err := mkdirAll(ctx, fsys, parent); err != nil {
		return err
	}
	if err := fsys.Mkdir(ctx, name, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// removeAll removes name and everything below it; a missing name is fine.
func removeAll(ctx context.Context, fsys pfs.Service, name string) error {
	name = pfs.Clean(name)
	st, err := fsys.Lstat(ctx, name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fsys.Unlink(ctx, name)
	}
	d, err := fsys.OpenDir(ctx, name)
	if err != nil {
		return err
	}
	var names []string
	for {
		ents, err := d.ReadDir(256)
		if err != nil {
			d.Close()
			return err
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			names = append(names, e.Name)
		}
	}
	d.Close()
	for _, n := range names {
		if err := removeAll(ctx, fsys, name+"/"+n); err != nil {
			return err
		}
	}
	if name == "" {
		return nil
	}
	return fsys.Rmdir(ctx, name)
}

// writeFile creates (or truncates) name and fills it with size bytes written
// in chunks of buf.
func writeFile(ctx context.Context, fsys pfs.Service, name string, size int64, buf []byte) error {
	f, err := fsys.Open(ctx, name, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for off := int64(0); off < size; {
		if err := ctx.Err(); err != nil {
			f.Close()
			return err
		}
		n := min(int64(len(buf)), size-off)
		w, err := f.Pwrite(buf[:n], off)
		if err == nil && w == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			f.Close()
			return err
		}
		off += int64(w)
	}
	return f.Close()
}

// ensureFile makes name a regular file of at least size bytes: an existing
// one is reused (it may live in a shared lower image), a missing one is
// created when create is set.
func ensureFile(ctx context.Context, fsys pfs.Service, name string, size int64, create bool, buf []byte) error {
	st, err := fsys.Stat(ctx, name)
	switch {
	case err == nil && st.IsRegular() && st.Size >= size:
		return nil
	case err == nil && !st.IsRegular():
		return fmt.Errorf("workloads: %s is not a regular file", name)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case !create:
		return fmt.Errorf("workloads: %s missing or smaller than %d bytes and create = false", name, size)
	}
	dir, _ := pfs.Split(pfs.Clean(name))
	if err := mkdirAll(ctx, fsys, dir); err != nil {
		return err
	}
	return writeFile(ctx, fsys, name, size, buf)
}

// readWhole reads f from offset 0 in chunks of buf until end of file and
// returns the bytes read.
func readWhole(f pfs.File, buf []byte) (int64, error) {
	var off int64
	for {
		n, err := f.Pread(buf, off)
		off += int64(n)
		if err != nil {
			return off, err
		}
		if n < len(buf) {
			return off, nil
		}
	}
}

// checkDuration validates a duration field.
func checkDuration(workload, field string, d time.Duration) error {
	if d <= 0 {
		return fmt.Errorf("workloads: %s: %s must be > 0, got %v", workload, field, d)
	}
	return nil
}

// checkRange validates an integer field.
func checkRange(workload, field string, v, lo, hi int64) error {
	if v < lo || v > hi {
		return fmt.Errorf("workloads: %s: %s must be in [%d, %d], got %d", workload, field, lo, hi, v)
	}
	return nil
}

// checkName validates a relative path field (a directory or file inside the
// container); it must not be empty or climb above the root.
func checkName(workload, field, name string) error {
	c := pfs.Clean(name)
	if c == "" || c != name {
		return fmt.Errorf("workloads: %s: %s must be a clean relative path, got %q", workload, field, name)
	}
	return nil
}
