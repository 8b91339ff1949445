package back_test

import (
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// TestHonestStallsAreNotQuarantined: an enqueuer that took its ticket and
// was then descheduled or stopped (here: the ticket taken, the slot never
// filled, for 400 ms) costs the queue the round the service skips, not a
// quarantine; its request, submitted but not enqueued yet, is not
// answered as lost; another client of the same queue is served
// meanwhile; when the stopped client runs again and
// enqueues (its round was skipped: it takes a new ticket) it is served.
// Two phantom tickets (a tail moved by 2) are skipped the same way.
func TestHonestStallsAreNotQuarantined(t *testing.T) {
	lb := &logBook{}
	w, drv := newTwoQueueDriver(t, lb)
	q0 := clientQueue(t, w, 0)
	mem := queueBase(w, 0)
	tail := func(add uint64) {
		// The enqueuer's fetch-and-add on tail, as rcqb does it.
		p, err := shm.NewRegion(mem).Uint64Ptr(queue.RCQBOffTail)
		if err != nil {
			t.Fatal(err)
		}
		atomic.AddUint64(p, add)
	}
	for _, c := range []struct {
		name    string
		tickets uint64
	}{{"an enqueuer stopped between its ticket and its fill", 1}, {"two phantom tickets", 2}} {
		gen := drv.Generation(0)
		// The stopped client's request: submitted, its ticket taken.
		b, _ := w.Buffer(10)
		b.WriteRequest(&wire.Request{Args: [wire.NumArgs]uint64{5}})
		b.ResetCompletion()
		b.SetQueue(0)
		b.SetState(wire.StateSubmitted)
		tail(c.tickets)
		var slowest time.Duration
		for start := time.Now(); time.Since(start) < 400*time.Millisecond; {
			t0 := time.Now()
			if ret, err := call(w, q0, 0, 11, 3); err != nil || ret != 6 {
				t.Fatalf("%s: the other client: ret %d, err %v", c.name, ret, err)
			}
			slowest = max(slowest, time.Since(t0))
		}
		// The stall costs the other client at most serviceWait (40 ms)
		// per ticket; the bound leaves room for a loaded host's
		// scheduling (the 1 s of the issue: TestHostileTenant, long).
		if slowest > 3*time.Second {
			t.Errorf("%s: the other client's slowest request took %v, over 3 s", c.name, slowest)
		}
		if drv.Generation(0) != gen || drv.Quarantines(0) != 0 {
			t.Fatalf("%s: queue 0 quarantined (generation %d -> %d); log:\n%s", c.name, gen, drv.Generation(0), strings.Join(lb.matching(""), "\n"))
		}
		if b.Completed() {
			t.Fatalf("%s: the stopped client's request was answered %d before it was enqueued", c.name, b.Ret())
		}
		// It runs again: its round was skipped, it enqueues anew.
		if err := q0.Enqueue(10); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(5 * time.Second); !b.Completed(); time.Sleep(100 * time.Microsecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the resumed request not answered within 5 s (state %d)", c.name, b.State())
			}
		}
		if b.Ret() != 10 {
			t.Errorf("%s: the resumed request: ret %d, want 10", c.name, b.Ret())
		}
		b.SetState(wire.StateIdle)
		t.Logf("%s: the other client's slowest request %v", c.name, slowest)
	}
	if lines := lb.matching("back:"); len(lines) != 0 {
		t.Errorf("the service logged incidents for honest stalls:\n%s", strings.Join(lines, "\n"))
	}
}

// TestPhantomTicketsQuarantined: a tail moved far ahead (40 tickets
// nobody holds, within the bounds Check accepts) is not left to cost the
// service its wait per ticket: the queue is quarantined within its
// budget, the request caught in it answered EIO.
func TestPhantomTicketsQuarantined(t *testing.T) {
	lb := &logBook{}
	w, drv := newTwoQueueDriver(t, lb)
	mem := queueBase(w, 0)
	b, _ := w.Buffer(3)
	b.ResetCompletion()
	b.SetQueue(0)
	b.SetState(wire.StateSubmitted)
	start := time.Now()
	add64(mem, queue.RCQBOffTail, 40)
	for drv.Quarantines(0) == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatalf("not quarantined after 5s")
		}
		time.Sleep(time.Millisecond)
	}
	took := time.Since(start)
	if !b.Completed() || b.Ret() != -int64(syscall.EIO) {
		t.Errorf("the request caught in the queue: done %v ret %d, want EIO", b.Completed(), b.Ret())
	}
	// Without the proof the service would skip the 40 tickets in 1.6 s
	// and never quarantine (the loop above fails); the budget is a Check
	// period, the stall limit and another Check period (250 ms), and the
	// bound leaves room for a loaded host's scheduling.
	if took > 3*time.Second {
		t.Errorf("quarantined after %v, want about 250 ms", took)
	}
	t.Logf("quarantined after %v: %s", took, strings.Join(lb.matching("back: queue 0"), "; "))
}
