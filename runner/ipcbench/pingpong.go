package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// Where the serving side of a round trip runs.
const (
	PeerThread  = "thread"  // another thread of this process
	PeerProcess = "process" // a second process, over a System V segment
)

// RTTConfig bounds one round-trip experiment (ping-pong or queues).
type RTTConfig struct {
	Peers    []string      // PeerThread and/or PeerProcess; empty means both
	Duration time.Duration // measuring time per point; 0 means 200ms
	MaxTrips int64         // round trips per point (0: 1e6)
	Warmup   int           // unmeasured round trips first (0: 1000)
	Pin      bool          // pin the two sides to two different CPUs
	NoLock   bool          // do not lock the two sides to OS threads (ignored with Pin)
	Launcher Launcher      // starts peer processes; nil means SelfLauncher
	// Rounds (RunRTTRounds only) splits Duration and MaxTrips into that
	// many slices of ping-pong and round trips, run alternately and pooled;
	// 0 means 1.
	Rounds int
	// BaselineOnly makes RunRTTRounds skip the queue round trips.
	BaselineOnly bool
	// For RunRoundTrip only:
	Designs    []string // Shared designs; empty means every Shared design
	Waits      []string // wait strategies; empty means all three
	Capacity   int      // queue slots; 0 means 64
	SpinBudget int      // queue.Config.SpinBudget
}

func (c *RTTConfig) defaults() error {
	if len(c.Peers) == 0 {
		c.Peers = []string{PeerThread, PeerProcess}
	}
	for _, p := range c.Peers {
		if p != PeerThread && p != PeerProcess {
			return fmt.Errorf("bench: unknown peer kind %q (want %s or %s)", p, PeerThread, PeerProcess)
		}
	}
	if c.Duration <= 0 {
		c.Duration = 200 * time.Millisecond
	}
	if c.MaxTrips <= 0 {
		c.MaxTrips = 1_000_000
	}
	if c.Warmup <= 0 {
		c.Warmup = 1000
	}
	if c.Capacity <= 0 {
		c.Capacity = 64
	}
	if c.Launcher == nil {
		l, err := SelfLauncher()
		if err != nil {
			return err
		}
		c.Launcher = l
	}
	_, err := allowedCPUs()
	return err
}

// cpuPair returns the placements (see pinTo) of the measuring and the
// serving side.
func (c *RTTConfig) cpuPair() (int, int) {
	if !c.Pin {
		if c.NoLock {
			return cpuFree, cpuFree
		}
		return cpuLockOnly, cpuLockOnly
	}
	cpus, _ := allowedCPUs()
	return cpus[0], cpus[1%len(cpus)]
}

// RTTPoint is the latency distribution of one round-trip point: a
// queue design, or the raw ping-pong (Design DesignPingPong, which
// busy-waits: Wait "spin").
type RTTPoint struct {
	Design string
	Wait   string
	Peer   string     // PeerThread or PeerProcess
	Hist   *Latencies // every round's samples, pooled
	// PerRound summarizes each round (see RunRTTRounds), in order: each is
	// one repetition of the point in its results (see Records).
	PerRound []RTTRound
	Err      error
}

// RTTRound is one round of a round-trip point.
type RTTRound struct {
	LatencyStats
	Err error
}

// newRTTPoint is a point measured in one round.
func newRTTPoint(design, wait, peer string, h *Latencies, err error) RTTPoint {
	p := RTTPoint{Design: design, Wait: wait, Peer: peer, Hist: h, Err: err}
	r := RTTRound{Err: err}
	if err == nil {
		r.LatencyStats = h.Stats()
	}
	p.PerRound = []RTTRound{r}
	return p
}

// replyTimeout bounds every wait for the other side: far above any sane
// round trip, also on an overloaded machine, yet no hang.
const replyTimeout = 5 * time.Second

// ErrNoReply means the serving side stopped answering.
var ErrNoReply = fmt.Errorf("bench: no reply within %v", replyTimeout)

const pingStop = ^uint64(0) // odd, so the server sees it, and never a sequence value

// servePingPong answers each odd value v in w with v+1 (after calling
// work, if not nil) until it reads pingStop or stop is set.
func servePingPong(w *atomic.Uint64, stop *atomic.Bool, work func() error) error {
	var last uint64
	for spins := 0; ; spins++ {
		v := w.Load()
		if v == pingStop {
			return nil
		}
		if v != last && v%2 == 1 {
			if work != nil {
				if err := work(); err != nil {
					return err
				}
			}
			last = v + 1
			w.Store(last)
			continue
		}
		if spins&0xffff == 0 && stop.Load() {
			return nil
		}
	}
}

// pingPongClient measures round trips on w with Warmup unmeasured ones
// first; it then tells the server to stop.
func pingPongClient(w *atomic.Uint64, cfg RTTConfig, cpu int) (*Latencies, error) {
	if err := pinTo(cpu); err != nil {
		return nil, err
	}
	defer w.Store(pingStop)
	h := newLatencies(1 << 16)
	v := w.Load()
	if v%2 == 1 {
		return nil, fmt.Errorf("bench: ping-pong word starts odd (%d)", v)
	}
	total := int64(cfg.Warmup) + cfg.MaxTrips
	var deadline int64
	for i := int64(0); i < total; i++ {
		if i == int64(cfg.Warmup) {
			deadline = now() + int64(cfg.Duration)
		}
		a := now()
		w.Store(v + 1)
		for spins := 0; ; spins++ {
			if w.Load() == v+2 {
				break
			}
			if spins&0xffff == 0xffff && now()-a > int64(replyTimeout) {
				return nil, ErrNoReply
			}
		}
		b := now()
		v += 2
		if i >= int64(cfg.Warmup) {
			h.Record(time.Duration(b - a))
			if b > deadline {
				break
			}
		}
	}
	return h, nil
}

// RunPingPong measures the raw cache-line ping-pong: one 8-byte word
// bounced between two threads of this process and between this process
// and a peer process over a System V segment.
func RunPingPong(ctx context.Context, cfg RTTConfig) ([]RTTPoint, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	defer raiseProcs(3)()
	var out []RTTPoint
	for _, peer := range cfg.Peers {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		measure := pingPongProcesses
		if peer == PeerThread {
			measure = pingPongThreads
		}
		h, err := measure(cfg)
		out = append(out, newRTTPoint(DesignPingPong, queue.Spin.String(), peer, h, err))
	}
	return out, nil
}

func pingPongThreads(cfg RTTConfig) (*Latencies, error) {
	mine, theirs := cfg.cpuPair()
	w, err := wordAt(alignedBytes(64, 64), 0)
	if err != nil {
		return nil, err
	}
	var stop atomic.Bool
	served := make(chan error, 1)
	go func() {
		if err := pinTo(theirs); err != nil {
			stop.Store(true)
			served <- err
			return
		}
		served <- servePingPong(w, &stop, nil)
	}()
	res := make(chan measured, 1)
	go func() {
		h, err := pingPongClient(w, cfg, mine)
		res <- measured{h, err}
	}()
	m := <-res
	stop.Store(true)
	return m.h, errors.Join(m.err, <-served)
}

type measured struct {
	h   *Latencies
	err error
}

// newSegment creates a private System V segment and marks it for removal
// at once: it lives until the last process detaches, so nothing leaks.
func newSegment(size int) (*shm.Segment, error) {
	seg, err := shm.Create(0, size) // key 0 is IPC_PRIVATE: never collides
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if err := seg.Remove(); err != nil {
		seg.Detach()
		return nil, fmt.Errorf("bench: %w", err)
	}
	return seg, nil
}

func pingPongProcesses(cfg RTTConfig) (*Latencies, error) {
	mine, theirs := cfg.cpuPair()
	seg, err := newSegment(4096)
	if err != nil {
		return nil, err
	}
	defer seg.Detach()
	w, err := wordAt(seg.Bytes(), 0)
	if err != nil {
		return nil, err
	}
	p, err := startPeer(cfg.Launcher, PeerConfig{Mode: ModePingPong, ShmID: seg.ID(), CPU: theirs})
	if err != nil {
		return nil, err
	}
	res := make(chan measured, 1)
	go func() {
		h, err := pingPongClient(w, cfg, mine)
		res <- measured{h, err}
	}()
	m := <-res
	return m.h, errors.Join(m.err, p.stop())
}

// RunRTTRounds runs the ping-pong baseline and the queue round trips
// alternately, cfg.Rounds times with a slice of the budget each, and pools
// the samples per point (each round stays in PerRound): baseline and
// queues then share the same load.
// With BaselineOnly, or no Shared design registered, only the baseline runs.
func RunRTTRounds(ctx context.Context, cfg RTTConfig) ([]RTTPoint, error) {
	rounds := max(cfg.Rounds, 1)
	slice := cfg
	if slice.Duration <= 0 {
		slice.Duration = 200 * time.Millisecond
	}
	slice.Duration = max(time.Millisecond, slice.Duration/time.Duration(rounds))
	if slice.MaxTrips > 0 {
		slice.MaxTrips = max(1, slice.MaxTrips/int64(rounds))
	}
	var out []RTTPoint
	index := map[string]int{}
	add := func(pts []RTTPoint) {
		for _, p := range pts {
			name := p.Name()
			i, ok := index[name]
			if !ok {
				index[name] = len(out)
				out = append(out, p)
				continue
			}
			q := &out[i]
			q.PerRound = append(q.PerRound, p.PerRound...)
			switch {
			case q.Err != nil:
			case p.Err != nil:
				q.Err, q.Hist = p.Err, nil
			default:
				q.Hist.merge(p.Hist)
			}
		}
	}
	for range rounds {
		pp, err := RunPingPong(ctx, slice)
		add(pp)
		if err != nil {
			return out, err
		}
		if cfg.BaselineOnly || (len(cfg.Designs) == 0 && !anyShared()) {
			continue
		}
		rt, err := RunRoundTrip(ctx, slice)
		add(rt)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
