package back_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/back"
	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// logBook collects a driver's log lines.
type logBook struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBook) logf(f string, a ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(f, a...))
	l.mu.Unlock()
}

func (l *logBook) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, ln := range l.lines {
		if strings.Contains(ln, s) {
			out = append(out, ln)
		}
	}
	return out
}

// newTwoQueueDriver is newDriver with two queues and a goroutine calling
// Check as the service's housekeeping does.
func newTwoQueueDriver(t *testing.T, lb *logBook) (*wire.Seg, *back.Driver) {
	t.Helper()
	qcfg := queue.Config{Capacity: 64, Wait: queue.SpinFutex}
	w, d, err := wiretest.Segment(qcfg, 2, 32)
	if err != nil {
		t.Fatal(err)
	}
	// LogEvery: an hour, so that a slow run cannot add a periodic count
	// line; the count comes at Stop.
	drv, err := back.New(w, back.Config{Design: d, Queue: qcfg, MaxExtra: -1, SpinFor: 100 * time.Microsecond,
		Logf: lb.logf, LogEvery: time.Hour}, &handler{release: make(chan struct{})})
	if err != nil {
		t.Fatal(err)
	}
	drv.Start()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(wire.HeartbeatInterval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				drv.Check()
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait(); drv.Stop() })
	return w, drv
}

// clientQueue attaches queue i the way fs/front does (with a timeout).
func clientQueue(t *testing.T, w *wire.Seg, i uint32) queue.Queue {
	t.Helper()
	d, _ := queue.Lookup("rcqb")
	mem, _, err := w.QueueMem(i)
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.New(mem, queue.Config{Capacity: 64, Wait: queue.SpinFutex, Timeout: 200 * time.Millisecond}, false)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// call submits Args[0] = v on queue qi with buffer idx and waits (2 s) for
// the answer.
func call(w *wire.Seg, q queue.Queue, qi, idx uint32, v uint64) (int64, error) {
	b, err := w.Buffer(idx)
	if err != nil {
		return 0, err
	}
	b.WriteRequest(&wire.Request{Args: [wire.NumArgs]uint64{v}})
	b.ResetCompletion()
	b.SetQueue(qi)
	b.SetState(wire.StateSubmitted)
	if err := q.Enqueue(uint64(idx)); err != nil {
		return 0, err
	}
	deadline := time.Now().Add(2 * time.Second)
	for !b.Completed() {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("buffer %d not answered in 2s (state %d)", idx, b.State())
		}
		time.Sleep(50 * time.Microsecond)
	}
	b.SetState(wire.StateIdle)
	return b.Ret(), nil
}

// store64, store32 and add64 scribble on a queue's memory the way another
// process would, atomically, as the service reads it (plain writes would
// be data races in the test itself). off is in bounds and aligned.
func store64(mem []byte, off uint64, v uint64) { shm.NewRegion(mem).StoreUint64(off, v) }
func store32(mem []byte, off uint64, v uint32) { shm.NewRegion(mem).StoreUint32(off, v) }
func add64(mem []byte, off uint64, d uint64)   { shm.NewRegion(mem).AddUint64(off, d) }

func queueBase(w *wire.Seg, i uint32) []byte {
	mem, _, _ := w.QueueMem(i)
	return mem
}

// TestQuarantineRebuildsCorruptedQueue: a scribbled queue 0 (its header,
// head/tail, a slot word, its closed flag) is quarantined and formatted
// anew under the next generation while queue 1 keeps serving; a request
// submitted on queue 0 gets EIO; a client that attaches the new
// generation is served; the log holds one line for queue 0 (plus the
// count flushed at Stop), not one per quarantine.
func TestQuarantineRebuildsCorruptedQueue(t *testing.T) {
	lb := &logBook{}
	w, drv := newTwoQueueDriver(t, lb)
	q1 := clientQueue(t, w, 1)

	// Queue 1 serves all along, from another goroutine.
	stop := make(chan struct{})
	var served1 atomic.Int64
	errs := make(chan error, 1)
	go func() {
		for i := uint64(0); ; i++ {
			select {
			case <-stop:
				errs <- nil
				return
			default:
			}
			ret, err := call(w, q1, 1, 31, i)
			if err != nil || ret != int64(2*i) {
				errs <- fmt.Errorf("queue 1 request %d: ret %d, err %v", i, ret, err)
				return
			}
			served1.Add(1)
		}
	}()

	corruptions := []struct {
		name    string
		do      func(mem []byte)
		enqueue bool // the caught request is enqueued after the scribble
	}{
		{"magic", func(mem []byte) { store64(mem, 0, 0xdeadbeef) }, false},
		{"capacity", func(mem []byte) { store64(mem, queue.RCQBOffCap, 1<<40) }, false},
		{"tail", func(mem []byte) { store64(mem, queue.RCQBOffTail, 1<<50) }, false},
		{"head", func(mem []byte) { store64(mem, queue.RCQBOffHead, 1<<50+7) }, false},
		{"slot state", func(mem []byte) {
			store64(mem, queue.RCQBOffSlots+5*queue.RCQBSlotBytes, queue.RCQBStateInvalid<<queue.RCQBStateShift)
		}, false},
		{"slot round", func(mem []byte) {
			store64(mem, queue.RCQBOffSlots+9*queue.RCQBSlotBytes, 12345<<queue.RCQBRoundShift)
		}, false},
		{"flags", func(mem []byte) { store32(mem, queue.RCQBOffFlags, queue.RCQBFlagClosed) }, false},
		// Within bounds, so only the stall tells: phantom tickets nobody
		// fills (a few of them the service skips by itself:
		// TestHonestStallsAreNotQuarantined), and a request stranded
		// behind head.
		{"tail ahead", func(mem []byte) {
			add64(mem, queue.RCQBOffTail, 40)
		}, false},
		{"head a little ahead", func(mem []byte) {
			add64(mem, queue.RCQBOffHead, 3)
		}, true},
	}
	startServed := served1.Load()
	for i, c := range corruptions {
		gen := drv.Generation(0)
		// A request submitted on queue 0 whose item the scribble lost.
		b, _ := w.Buffer(uint32(i))
		b.WriteRequest(&wire.Request{Args: [wire.NumArgs]uint64{1}})
		b.ResetCompletion()
		b.SetQueue(0)
		b.SetState(wire.StateSubmitted)

		c.do(queueBase(w, 0))
		if c.enqueue {
			clientQueue(t, w, 0).TryEnqueue(uint64(b.Index))
		}
		deadline := time.Now().Add(5 * time.Second)
		for drv.Generation(0) == gen {
			if time.Now().After(deadline) {
				t.Fatalf("%s: queue 0 not rebuilt in 5s", c.name)
			}
			time.Sleep(time.Millisecond)
		}
		if !b.Completed() || b.Ret() != -int64(syscall.EIO) {
			t.Errorf("%s: the request caught in queue 0: done %v ret %d, want EIO", c.name, b.Completed(), b.Ret())
		}
		// A client attaching the new generation is served on queue 0.
		if ret, err := call(w, clientQueue(t, w, 0), 0, 20, 21); err != nil || ret != 42 {
			t.Errorf("%s: after the rebuild: ret %d, err %v", c.name, ret, err)
		}
	}
	close(stop)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	if served1.Load() == startServed {
		t.Errorf("queue 1 served nothing while queue 0 was rebuilt")
	}
	if drv.Generation(1) != 0 || drv.Quarantines(1) != 0 {
		t.Errorf("queue 1 was touched: generation %d, %d quarantines", drv.Generation(1), drv.Quarantines(1))
	}
	n := uint64(len(corruptions))
	if got := drv.Quarantines(0); got < n {
		t.Errorf("queue 0 quarantined %d times, want at least %d", got, n)
	}
	_, st, _ := w.QueueMem(0)
	if st.Generation() != drv.Generation(0) {
		t.Errorf("shared generation %d, driver's %d", st.Generation(), drv.Generation(0))
	}
	if lines := lb.matching("back: queue 0"); len(lines) != 1 {
		t.Errorf("%d log lines for queue 0 before Stop, want 1 (rate limited):\n%s", len(lines), strings.Join(lines, "\n"))
	}
	drv.Stop()
	lines := lb.matching("back: queue 0")
	want := fmt.Sprintf("%d incident(s) in all", drv.Quarantines(0))
	if len(lines) != 2 || !strings.Contains(lines[1], want) {
		t.Errorf("log lines for queue 0 after Stop, want 2, the last with %q:\n%s", want, strings.Join(lines, "\n"))
	}
	if lines := lb.matching("queue 1"); len(lines) != 0 {
		t.Errorf("log lines about queue 1:\n%s", strings.Join(lines, "\n"))
	}
}

// TestBufferWatchAnswersStuckRequests: a request whose descriptor was
// scribbled in flight (state word, completion cleared, submitted state
// cleared while the client sleeps, queue item lost) is answered EIO
// instead of leaving its client waiting; each buffer is logged once.
func TestBufferWatchAnswersStuckRequests(t *testing.T) {
	lb := &logBook{}
	w, _ := newTwoQueueDriver(t, lb)
	q0 := clientQueue(t, w, 0)
	buf := func(i uint32) *wire.Buffer {
		b, err := w.Buffer(i)
		if err != nil {
			t.Fatal(err)
		}
		b.Claim(1)
		return b
	}
	// A state word no party writes, with the client asleep on Done.
	b1 := buf(1)
	b1.ResetCompletion()
	b1.SetWaiter(1)
	b1.SetState(7)
	// Answered, then the completion cleared while the state stays Busy.
	b2 := buf(2)
	if ret, err := call(w, q0, 0, 2, 5); err != nil || ret != 10 {
		t.Fatalf("call: %d %v", ret, err)
	}
	b2.SetState(wire.StateBusy)
	b2.ResetCompletion()
	b2.SetWaiter(1)
	// Submitted, then its state cleared while the client sleeps.
	b3 := buf(3)
	b3.ResetCompletion()
	b3.SetState(wire.StateIdle)
	b3.SetWaiter(1)
	// Submitted on queue 0, its client asleep on Done, its item in no
	// queue (lost).
	b4 := buf(4)
	b4.ResetCompletion()
	b4.SetQueue(0)
	b4.SetState(wire.StateSubmitted)
	b4.SetWaiter(1)
	// Submitted, its client descheduled (or stopped) before its enqueue:
	// not lost, it enqueues when it runs again.
	b6 := buf(6)
	b6.WriteRequest(&wire.Request{Args: [wire.NumArgs]uint64{4}})
	b6.ResetCompletion()
	b6.SetQueue(0)
	b6.SetState(wire.StateSubmitted)
	start := time.Now()
	for _, b := range []*wire.Buffer{b1, b2, b3, b4} {
		for !b.Completed() {
			if time.Since(start) > 10*time.Second {
				t.Fatalf("buffer %d not answered after %v (state %d)", b.Index, time.Since(start), b.State())
			}
			time.Sleep(time.Millisecond)
		}
		if b.Ret() != -int64(syscall.EIO) {
			t.Errorf("buffer %d: ret %d, want EIO", b.Index, b.Ret())
		}
	}
	// Within about lostAfter plus two scans; a loaded host may add to it.
	t.Logf("all four answered after %v", time.Since(start))
	for i := 1; i <= 4; i++ {
		if n := len(lb.matching(fmt.Sprintf("back: buffer %d:", i))); n != 1 {
			t.Errorf("buffer %d: %d log lines, want 1", i, n)
		}
	}
	// An idle buffer with nobody waiting is left alone; so is buffer 6
	// for 700 ms (longer than any wait the watch ever allowed).
	b5 := buf(5)
	b5.ResetCompletion()
	time.Sleep(max(200*time.Millisecond, time.Until(start.Add(700*time.Millisecond))))
	if b5.Completed() {
		t.Error("an idle buffer was answered")
	}
	if b6.Completed() {
		t.Errorf("a request whose client has not enqueued it yet was answered %d", b6.Ret())
	}
	// Its client runs again and enqueues it: it is served.
	if err := q0.Enqueue(6); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !b6.Completed(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("buffer 6 not answered after its enqueue (state %d)", b6.State())
		}
	}
	if b6.Ret() != 8 {
		t.Errorf("buffer 6: ret %d, want 8 (served)", b6.Ret())
	}
}
