package bench

import (
	"bytes"
	"context"
	"fmt"
	"time"

	xcopy "polytropon/ipc/copy"
)

// Where the source of a copy lives.
const (
	SrcOwn  = "own"  // this process
	SrcPeer = "peer" // a second process (CMA only: process_vm_readv)
)

// CopyConfig selects the points of the copy bake-off.
type CopyConfig struct {
	Methods  []string      // method names; empty means every registered method
	Sizes    []int         // bytes per copy; empty means 4 KiB .. 16 MiB in powers of 4
	Duration time.Duration // measuring time per point; 0 means 200ms
	// Staging bounds the shared staging buffer of SMC and SMO (a System V
	// segment); longer copies go in chunks. 0 means the largest size.
	Staging int
	// CrossProcess adds CMA from a real second process (needs a Launcher).
	CrossProcess bool
	Launcher     Launcher // nil means SelfLauncher
	Pin          bool     // pin the measuring thread
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

// CopyPoint is one measured method x size.
type CopyPoint struct {
	Method  string
	Src     string // SrcOwn or SrcPeer
	Size    int
	Copies  int64
	Elapsed time.Duration
	Err     error
}

// GBps is decimal gigabytes of payload per second.
func (p CopyPoint) GBps() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Size) * float64(p.Copies) / p.Elapsed.Seconds() / 1e9
}

// Row converts the point: ns/op per copy plus MB/s (benchstat's unit for
// b.SetBytes) and GB/s.
func (p CopyPoint) Row() Row {
	r := Row{Bench: "Copy", Params: []Param{P("method", p.Method), P("src", p.Src), P("size", sizeName(p.Size))}, N: p.Copies}
	if p.Err != nil {
		r.Err = p.Err.Error()
		return r
	}
	r.Metrics = []Metric{
		{"ns/op", float64(p.Elapsed.Nanoseconds()) / float64(max(p.Copies, 1))},
		{"MB/s", p.GBps() * 1000},
		{"GB/s", p.GBps()},
	}
	return r
}

// sizeName prints 4096 as 4KiB, 1<<20 as 1MiB, other sizes in bytes.
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
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

	var out []CopyPoint
	run := func(method, where string, size int, m xcopy.Method, from func(dst []byte) error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		pt := CopyPoint{Method: method, Src: where, Size: size}
		pt.Copies, pt.Elapsed, pt.Err = measureCopy(dst[:size], src[:size], m, from, cfg)
		if pt.Err != nil {
			pt.Err = fmt.Errorf("%s/%s/%s: %w", method, where, sizeName(size), pt.Err)
		}
		out = append(out, pt)
		return nil
	}
	for _, name := range cfg.Methods {
		m, err := xcopy.New(name, xcopy.Options{Staging: seg.Bytes()})
		if err != nil {
			return out, fmt.Errorf("bench: %w", err)
		}
		for _, size := range cfg.Sizes {
			if err := run(name, SrcOwn, size, m, nil); err != nil {
				return out, err
			}
		}
		if name == "CMA" && peer != nil {
			for _, size := range cfg.Sizes {
				from := func(d []byte) error { _, err := xcopy.ReadFrom(peer.pid, d, peer.addr); return err }
				if err := run(name, SrcPeer, size, nil, from); err != nil {
					return out, err
				}
			}
		}
	}
	return out, nil
}

// measureCopy copies until cfg.Duration passed on a locked (optionally
// pinned) thread, after one checked copy.
func measureCopy(dst, src []byte, m xcopy.Method, from func([]byte) error, cfg CopyConfig) (int64, time.Duration, error) {
	type result struct {
		n   int64
		d   time.Duration
		err error
	}
	res := make(chan result, 1)
	go func() {
		if err := lockThread(true, cfg.Pin, 0); err != nil {
			res <- result{err: err}
			return
		}
		one := func() error {
			if from != nil {
				return from(dst)
			}
			_, err := m.Copy(dst, src)
			return err
		}
		clear(dst)
		if err := one(); err != nil {
			res <- result{err: err}
			return
		}
		if !bytes.Equal(dst, src) { // src holds the same pattern as the peer's buffer
			res <- result{err: fmt.Errorf("copied bytes differ from the source")}
			return
		}
		t0 := now()
		deadline := t0 + int64(cfg.Duration)
		var n int64
		for {
			if err := one(); err != nil {
				res <- result{err: err}
				return
			}
			n++
			if t := now(); t >= deadline {
				res <- result{n: n, d: time.Duration(t - t0)}
				return
			}
		}
	}()
	r := <-res
	return r.n, r.d, r.err
}
