package back_test

import (
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/back"
	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/ipc/queue"
)

// echo answers Args[0] * 2 at once (a fuzzed request must not block a
// service thread).
type echo struct{}

func (echo) Serve(b *wire.Buffer, req *wire.Request) int64 { return int64(req.Args[0] * 2) }

// fuzzSeg is the segment and driver the fuzz inputs of this process
// share: a service survives one scribble after another, so the state one
// input leaves is the next one's start.
var fuzzSeg struct {
	once sync.Once
	w    *wire.Seg
	drv  *back.Driver
	err  error
}

const fuzzLegit = 31 // the buffer of the legitimate client

func fuzzSetup() (*wire.Seg, *back.Driver, error) {
	fuzzSeg.once.Do(func() {
		qcfg := queue.Config{Capacity: 16, Wait: queue.SpinFutex}
		w, d, err := wiretest.Segment(qcfg, 2, 32)
		if err != nil {
			fuzzSeg.err = err
			return
		}
		drv, err := back.New(w, back.Config{Design: d, Queue: qcfg, MaxExtra: 1, ExtraThreshold: 2,
			SpinFor: 50 * time.Microsecond}, echo{})
		if err != nil {
			fuzzSeg.err = err
			return
		}
		drv.Start()
		go func() { // the service's housekeeping
			for range time.Tick(wire.HeartbeatInterval) {
				drv.Check()
				drv.Balance()
			}
		}()
		fuzzSeg.w, fuzzSeg.drv = w, drv
	})
	return fuzzSeg.w, fuzzSeg.drv, fuzzSeg.err
}

// legitCall is a well-behaved client's request on queue qi: it attaches
// the queue at its current generation, waits for a rebuild (or the
// quarantine's answer) when the queue fails (up to 1 s), and for the
// answer (up to 1 s). It returns the
// answer or an error saying which invariant broke.
func legitCall(w *wire.Seg, qi uint32, v uint64) (int64, string) {
	d, _ := queue.Lookup("rcqb")
	mem, st, _ := w.QueueMem(qi)
	b, _ := w.Buffer(fuzzLegit)
	b.WriteRequest(&wire.Request{Args: [wire.NumArgs]uint64{v}})
	b.ResetCompletion()
	b.SetQueue(qi)
	b.SetState(wire.StateSubmitted)
	for {
		gen := st.Generation()
		q, err := d.New(mem, queue.Config{Capacity: int(w.Layout.QueueCapacity), Wait: queue.SpinFutex, Timeout: 200 * time.Millisecond}, false)
		if err == nil {
			if err = q.Enqueue(fuzzLegit); err == nil {
				b.SetWaiter(1) // it waits past its enqueue, as a sleeping client says
				break
			}
			if err == queue.ErrTimeout {
				continue
			}
		}
		deadline := time.Now().Add(time.Second)
		for st.Generation() == gen && !b.Completed() { // rebuilt, or answered EIO at the quarantine
			if time.Now().After(deadline) {
				return 0, "queue " + string(rune('0'+qi)) + " failed (" + err.Error() + ") and was not rebuilt within 1s"
			}
			time.Sleep(time.Millisecond)
		}
		if b.Completed() {
			break
		}
	}
	deadline := time.Now().Add(time.Second)
	for !b.Completed() {
		if time.Now().After(deadline) {
			return 0, "no answer within 1s"
		}
		time.Sleep(20 * time.Microsecond)
	}
	ret := b.Ret()
	b.SetState(wire.StateIdle)
	return ret, ""
}

// FuzzSharedState writes the scribbles an input encodes into a live
// service segment (descriptors, queue headers, heads and tails, slots,
// generation words, data ranges), then checks the invariants: nothing
// panics (every shared access is bounds checked), the service threads
// keep running, and a legitimate client of each queue is answered (2v, or
// EIO for a request the quarantine caught) within 1 s of each wait.
func FuzzSharedState(f *testing.F) {
	at, enc := wiretest.At, wiretest.Encode
	const d, h, sl, st, rg = wiretest.KindDesc, wiretest.KindQueueHead, wiretest.KindSlot, wiretest.KindQueueStats, wiretest.KindDescRange
	f.Add(enc(at(h, 0, 0, true, 0xdeadbeef)))                                     // magic
	f.Add(enc(at(h, 1, 1, true, 1<<40)))                                          // capacity
	f.Add(enc(at(h, 0, 3, true, 1<<50), at(h, 0, 4, true, 3)))                    // tail, head
	f.Add(enc(at(h, 1, 3, true, 2)))                                              // tail a little ahead
	f.Add(enc(at(h, 0, 2, true, queue.RCQBFlagClosed)))                           // closed by the tenant
	f.Add(enc(at(sl, 0, 5, false, queue.RCQBStateInvalid<<queue.RCQBStateShift))) // slot state
	f.Add(enc(at(sl, 1, 3, true, 7), at(d, 7, 0, false, wire.StateSubmitted)))    // slot item, submitted state
	f.Add(enc(at(st, 0, 4, false, 77)))                                           // generation
	f.Add(enc(at(d, 9, 20, false, 0xffffffff), at(rg, 9, 3, false, 0xfffffff0)))  // descriptor word, range
	f.Add(enc(at(d, 1, 0, false, 3), at(d, 2, 8, true, 1<<63|5)))                 // state, 8-byte word
	f.Fuzz(func(t *testing.T, data []byte) {
		w, drv, err := fuzzSetup()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range wiretest.Decode(data) {
			wiretest.Apply(w, s)
		}
		for qi := uint32(0); qi < w.Layout.NumQueues; qi++ {
			for v := uint64(1); v <= 2; v++ {
				ret, broke := legitCall(w, qi, v)
				if broke != "" {
					t.Fatalf("queue %d: %s (generation %d, %d quarantines)", qi, broke, drv.Generation(qi), drv.Quarantines(qi))
				}
				if ret != int64(2*v) && ret != -int64(syscall.EIO) {
					t.Fatalf("queue %d: answer %d, want %d or EIO", qi, ret, 2*v)
				}
			}
		}
		if n := drv.Threads(); n < int(w.Layout.NumQueues) {
			t.Fatalf("%d service threads left, want at least %d", n, w.Layout.NumQueues)
		}
	})
}
