package ipcbench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"polytropon/internal/units"
	xcopy "polytropon/ipc/copy"
)

// CopyConfig selects the points of the copy bake-off.
type CopyConfig struct {
	Methods  []string      // method names; empty means every registered method
	Sizes    []int         // bytes per copy; empty means 4 KiB .. 16 MiB in powers of 4
	Duration time.Duration // measuring time per point; 0 means 200ms
	// Staging bounds the shared staging buffer of SMC and SMO (a System V
	// segment); longer copies go in chunks. 0 means the largest size.
	Staging int
	// CrossProcess adds the two-process variants (needs a Launcher): CMA
	// reading a peer's buffer, and SMC/SMO with the back-driver copy done
	// by the peer on its own CPU.
	CrossProcess bool
	Launcher     Launcher // nil means SelfLauncher
	Pin          bool     // pin the measuring thread (and the peer, to another CPU)
	// Rounds splits each point's Duration into that many slices, measured
	// round robin with the other methods at the same size and pooled, so
	// that load drifting on a shared machine hits every method alike; 0
	// means 1.
	Rounds int
}

// DefaultCopySizes is 4 KiB, 16 KiB, ... 16 MiB.
func DefaultCopySizes() []int {
	var s []int
	for n := 4 << 10; n <= 16<<20; n *= 4 {
		s = append(s, n)
	}
	return s
}

func (c *CopyConfig) defaults() error {
	if len(c.Methods) == 0 {
		for _, s := range xcopy.Specs() {
			c.Methods = append(c.Methods, s.Name)
		}
	}
	for _, m := range c.Methods {
		if _, err := xcopy.Lookup(m); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
	}
	if len(c.Sizes) == 0 {
		c.Sizes = DefaultCopySizes()
	}
	maxSize := 0
	for _, n := range c.Sizes {
		if n <= 0 || n > 1<<30 {
			return fmt.Errorf("bench: copy size %d out of range 1..1GiB", n)
		}
		maxSize = max(maxSize, n)
	}
	if c.Staging <= 0 {
		c.Staging = maxSize
	}
	if c.Duration <= 0 {
		c.Duration = 200 * time.Millisecond
	}
	if c.Rounds <= 0 {
		c.Rounds = 1
	}
	if c.CrossProcess && c.Launcher == nil {
		l, err := SelfLauncher()
		if err != nil {
			return err
		}
		c.Launcher = l
	}
	_, err := allowedCPUs()
	return err
}

// CopyPoint is one measured method x size, its rounds pooled.
type CopyPoint struct {
	Method  string
	Procs   int // 1: both ends in this process; 2: the data crosses into or out of a peer process
	Size    int
	Copies  int64
	Elapsed time.Duration
	Each    *Latencies // time of every single copy (for the median)
	// PerRound are the rounds, in order (none after a failed one): each is
	// one repetition of the point in its results (see Records).
	PerRound []CopyRound
	Err      error
}

// CopyRound is one round of a copy point.
type CopyRound struct {
	Copies  int64
	Elapsed time.Duration
	P50     time.Duration // the median copy
	Err     error
}

// MedianGBps is the bandwidth of the median copy: robust against the
// preemptions a shared machine inflicts on a few copies.
func (p CopyPoint) MedianGBps() float64 {
	if p.Each == nil || p.Each.Count() == 0 {
		return 0
	}
	return gbps(p.Size, 1, p.Each.Quantile(0.5))
}

// GBps is decimal gigabytes of payload per second.
func (p CopyPoint) GBps() float64 { return gbps(p.Size, p.Copies, p.Elapsed) }

// gbps is decimal gigabytes per second of n copies of size bytes in d.
func gbps(size int, n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(size) * float64(n) / float64(d.Nanoseconds())
}

// RunCopy measures every method x size; failing points carry Err.
func RunCopy(ctx context.Context, cfg CopyConfig) ([]CopyPoint, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	maxSize := 0
	for _, n := range cfg.Sizes {
		maxSize = max(maxSize, n)
	}
	seg, err := newSegment(cfg.Staging)
	if err != nil {
		return nil, err
	}
	defer seg.Detach()
	src := alignedBytes(maxSize, 4096)
	fillPattern(src)
	dst := alignedBytes(maxSize, 4096)

	var peer *peerProc
	if cfg.CrossProcess {
		if peer, err = startPeer(cfg.Launcher, PeerConfig{Mode: ModeCMA, Size: maxSize, CPU: cpuFree}); err != nil {
			return nil, err
		}
		defer peer.stop()
	}
	mine, theirs := cpuLockOnly, cpuLockOnly
	if cfg.Pin {
		cpus, _ := allowedCPUs()
		mine, theirs = cpus[0], cpus[1%len(cpus)]
	}

	// One contender per method and process count. run copies n bytes once;
	// check verifies the last copy.
	type contender struct {
		method string
		procs  int
		run    func(n int) error
		check  func(n int) error
	}
	var cs []contender
	sameAsSrc := func(n int) error {
		if !bytes.Equal(dst[:n], src[:n]) { // src holds the pattern the peer's buffer has too
			return fmt.Errorf("copied bytes differ from the source")
		}
		return nil
	}
	for _, name := range cfg.Methods {
		spec, _ := xcopy.Lookup(name)
		m, err := spec.New(xcopy.Options{Staging: seg.Bytes()})
		if err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		cs = append(cs, contender{method: name, procs: 1, check: sameAsSrc, run: func(n int) error {
			_, err := m.Copy(dst[:n], src[:n])
			return err
		}})
		if !cfg.CrossProcess {
			continue
		}
		switch {
		case name == "CMA":
			cs = append(cs, contender{method: name, procs: 2, check: sameAsSrc, run: func(n int) error {
				_, err := xcopy.ReadFrom(peer.pid, dst[:n], peer.addr)
				return err
			}})
		case spec.Stage != nil:
			st, stop, err := startStaged(name, maxSize, cfg, theirs)
			if err != nil {
				return nil, err
			}
			defer stop()
			cs = append(cs, contender{method: name, procs: 2,
				run:   func(n int) error { return st.transfer(src[:n]) },
				check: func(n int) error { return st.verify(src[:n]) }})
		}
	}
	slice := cfg
	slice.Duration = max(time.Millisecond, cfg.Duration/time.Duration(cfg.Rounds))
	var out []CopyPoint
	for _, size := range cfg.Sizes {
		group := make([]CopyPoint, len(cs))
		for i, c := range cs {
			group[i] = CopyPoint{Method: c.method, Procs: c.procs, Size: size, Each: newLatencies(1024)}
		}
		for range cfg.Rounds {
			for i, c := range cs {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				if group[i].Err != nil {
					continue
				}
				clear(dst[:size])
				each := newLatencies(1024)
				n, d, err := measureCopy(size, c.run, c.check, mine, slice.Duration, each)
				if err != nil {
					group[i].Err = fmt.Errorf("%s/procs=%d/%v: %w", c.method, c.procs, units.Size(size), err)
					group[i].PerRound = append(group[i].PerRound, CopyRound{Err: group[i].Err})
					continue
				}
				group[i].Copies += n
				group[i].Elapsed += d
				group[i].Each.merge(each)
				group[i].PerRound = append(group[i].PerRound, CopyRound{Copies: n, Elapsed: d, P50: each.Quantile(0.5)})
			}
		}
		out = append(out, group...)
	}
	return out, nil
}

// measureCopy runs one checked copy of n bytes, then copies until d has
// passed, on a locked (at cpu >= 0 also pinned) thread, recording each
// copy's time in each.
func measureCopy(n int, run, check func(int) error, cpu int, d time.Duration, each *Latencies) (int64, time.Duration, error) {
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		if err := pinTo(cpu); err != nil {
			res <- result{err: err}
			return
		}
		if err := run(n); err != nil {
			res <- result{err: err}
			return
		}
		if err := check(n); err != nil {
			res <- result{err: err}
			return
		}
		t0 := now()
		deadline := t0 + int64(d)
		var copies int64
		for a := t0; ; {
			if err := run(n); err != nil {
				res <- result{err: err}
				return
			}
			copies++
			b := now()
			each.Record(time.Duration(b - a))
			if b >= deadline {
				res <- result{n: copies, d: time.Duration(b - t0)}
				return
			}
			a = b
		}
	}()
	r := <-res
	return r.n, r.d, r.err
}
