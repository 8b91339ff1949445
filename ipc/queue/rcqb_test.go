package queue

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// newRCQB returns a white-box RCQB over Go memory.
func newTestRCQB(t *testing.T, cfg Config) *rcqb {
	t.Helper()
	d, _ := Lookup("rcqb")
	q, _ := newTestQueue(t, d, cfg)
	return q.(*rcqb)
}

// shortWait is a wait state that gives up quickly, standing in for a
// timed-out or killed partner without configuring the whole queue.
func shortWait() *waitState {
	return &waitState{wait: Futex, timeout: 5 * time.Millisecond}
}

// TestRCQBAbandonedDequeueTickets: dequeuers that gave up their tickets,
// on the slot's current round and on later rounds, make the matching
// enqueuers re-enqueue their items instead of losing them.
func TestRCQBAbandonedDequeueTickets(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 2, Wait: Futex})
	for i := 0; i < 5; i++ { // tickets 0..4: rounds 0, 0, 1, 1, 2
		h := atomic.AddUint64(q.head, 1) - 1
		if _, _, err := q.take(h, shortWait()); !errors.Is(err, ErrTimeout) {
			t.Fatalf("take(%d) = %v, want ErrTimeout", h, err)
		}
	}
	for v := uint64(10); v < 12; v++ { // capacity 2
		if err := q.Enqueue(v); err != nil {
			t.Fatalf("Enqueue(%d): %v", v, err)
		}
	}
	for want := uint64(10); want < 12; want++ {
		if v, err := q.TryDequeue(); err != nil || v != want {
			t.Fatalf("TryDequeue = %d, %v; want %d", v, err, want)
		}
	}
	if _, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryDequeue on the drained queue: %v", err)
	}
}

// TestRCQBAbandonedEnqueueTickets: enqueuers that gave up on a full queue
// leave rounds that the dequeuers pass on; their items never appear.
func TestRCQBAbandonedEnqueueTickets(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 2, Wait: Futex})
	q.Enqueue(1)
	q.Enqueue(2)
	for i := 0; i < 3; i++ {
		tk := atomic.AddUint64(q.tail, 1) - 1
		if _, err := q.put(tk, 99, shortWait(), nil); !errors.Is(err, ErrTimeout) {
			t.Fatalf("put(%d) on a full queue = %v, want ErrTimeout", tk, err)
		}
	}
	var got []uint64
	drain := func() {
		for {
			v, err := q.TryDequeue()
			if errors.Is(err, ErrEmpty) {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, v)
		}
	}
	drain() // takes 1 and 2, passes on the three abandoned rounds
	if err := q.Enqueue(3); err != nil {
		t.Fatal(err)
	}
	if err := q.TryEnqueue(4); err != nil {
		t.Fatal(err)
	}
	drain()
	if len(got) != 4 || got[0] != 1 || got[1] != 2 || got[2] != 3 || got[3] != 4 {
		t.Fatalf("dequeued %v, want [1 2 3 4] (never 99)", got)
	}
}

// TestRCQBDequeuerGoneWhileFilling: the dequeuer gives up while its
// enqueuer is inside the slot; the enqueuer notices on release and
// re-enqueues.
func TestRCQBDequeuerGoneWhileFilling(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 2, Wait: Futex})
	s := &q.slots[0]
	w := atomic.LoadUint64(s.word)
	atomic.StoreUint64(s.word, w|RCQBStateFilling<<RCQBStateShift) // an enqueuer is filling round 0
	if err := q.abandon(s, 0, RCQBDGoneShift); err != nil {
		t.Fatalf("abandon while filling: %v", err)
	}
	atomic.StoreUint64(s.word, atomic.LoadUint64(s.word)&^RCQBStateMask) // back to empty, d-gone set
	atomic.StoreUint64(q.head, 1)                                        // ticket 0's dequeuer is gone
	if err := q.Enqueue(7); err != nil {                                 // gets ticket 0, passes it on, re-enqueues
		t.Fatal(err)
	}
	if v, err := q.Dequeue(); err != nil || v != 7 {
		t.Fatalf("Dequeue = %d, %v; want 7", v, err)
	}
}

func TestRCQBAbandonTooFarAheadBreaks(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 2, Wait: Futex})
	if err := q.abandon(&q.slots[0], RCQBGoneBits, RCQBDGoneShift); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("abandon %d rounds ahead: %v, want ErrCorrupt", RCQBGoneBits, err)
	}
	if err := q.Enqueue(1); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Enqueue on a broken queue: %v, want ErrCorrupt", err)
	}
}

// TestRCQBDeadEnqueuerRoundSkipped: an enqueuer that took its ticket and
// never filled its slot (killed between the two) costs one dequeue timeout,
// once: the dequeuer skips the round, later laps over the slot run
// normally, and the enqueuer, had it only been slow, finds its round
// skipped and takes a new ticket without storing its item.
func TestRCQBDeadEnqueuerRoundSkipped(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 4, Wait: SpinFutex, Timeout: 50 * time.Millisecond})
	dead := atomic.AddUint64(q.tail, 1) - 1 // ticket 0, never filled
	if err := q.Enqueue(5); err != nil {
		t.Fatal(err)
	}
	if _, err := q.Dequeue(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Dequeue behind the dead enqueuer: %v, want ErrTimeout", err)
	}
	if v, err := q.Dequeue(); err != nil || v != 5 {
		t.Fatalf("Dequeue after the skip = %d, %v; want 5", v, err)
	}
	// Laps over the skipped slot: nothing waits for the dead ticket.
	for lap := uint64(0); lap < 3; lap++ {
		for i := uint64(0); i < 4; i++ {
			if err := q.Enqueue(100*lap + i); err != nil {
				t.Fatalf("lap %d: Enqueue: %v", lap, err)
			}
		}
		for i := uint64(0); i < 4; i++ {
			if v, err := q.Dequeue(); err != nil || v != 100*lap+i {
				t.Fatalf("lap %d: Dequeue = %d, %v; want %d", lap, v, err, 100*lap+i)
			}
		}
	}
	// The "dead" enqueuer wakes up: its round is gone, it must re-enqueue.
	s := &q.slots[dead&q.mask]
	before := atomic.LoadUint64(s.item)
	if done, err := q.put(dead, 77, shortWait(), nil); done || err != nil {
		t.Fatalf("put on a skipped round = %v, %v; want false, nil", done, err)
	}
	if got := atomic.LoadUint64(s.item); got != before {
		t.Fatalf("put on a skipped round stored its item (%d, was %d)", got, before)
	}
	if err := q.abandon(s, dead>>q.shift&RCQBRoundMask, RCQBEGoneShift); err != nil {
		t.Fatalf("abandoning a skipped round: %v, want nothing to record", err)
	}
	if _, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
		t.Fatalf("TryDequeue on the drained queue: %v", err)
	}
}

// TestRCQBLayoutInvariants: the slot word fields fill exactly 64 bits, the
// round lies in the futex word (low 32 bits), tail, head and every slot
// have cache lines of their own, and RCQBLayout lists every field under a
// distinct name.
func TestRCQBLayoutInvariants(t *testing.T) {
	if got := RCQBDGoneShift + RCQBGoneBits; got != 64 {
		t.Errorf("slot word fields end at bit %d, want 64", got)
	}
	if got := RCQBRoundShift + RCQBRoundBits; got > 32 {
		t.Errorf("round ends at bit %d, outside the futex word", got)
	}
	for name, off := range map[string]int{"tail": RCQBOffTail, "head": RCQBOffHead, "slots": RCQBOffSlots, "slot size": RCQBSlotBytes} {
		if off%64 != 0 {
			t.Errorf("%s at %d: not on a cache line of its own", name, off)
		}
	}
	if RCQBOffFlags+4 > RCQBOffTail || RCQBSlotBytes < 16 {
		t.Errorf("header fields overlap: flags at %d, tail at %d, slot of %d bytes", RCQBOffFlags, RCQBOffTail, RCQBSlotBytes)
	}
	seen := map[string]bool{}
	for _, c := range RCQBLayout() {
		if seen[c.Name] {
			t.Errorf("RCQBLayout lists %s twice", c.Name)
		}
		seen[c.Name] = true
	}
}

// TestRCQBCheckStaleHead: Check reads head, then the slots. A checker
// descheduled in between (a loaded host) found slots that live parties
// had moved 20 rounds past the head it read and quarantined a healthy
// queue (seen in TestStoppedClientNotFailed under load). A far slot is
// corruption only against a head that stayed put; a scribbled one still is.
func TestRCQBCheckStaleHead(t *testing.T) {
	q := newTestRCQB(t, Config{Capacity: 4, Wait: Futex})
	t.Cleanup(func() { checkPause = nil })
	moved := false
	checkPause = func(c *rcqb) {
		if c != q || moved {
			return
		}
		moved = true
		for i := 0; i < 30*4; i++ { // 30 rounds of every slot
			if err := q.Enqueue(uint64(i)); err != nil {
				t.Fatal(err)
			}
			if _, err := q.Dequeue(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := q.Check(); err != nil {
		t.Fatalf("Check of a healthy queue whose head moved 30 rounds meanwhile: %v", err)
	}
	if !moved {
		t.Fatal("the pause never ran")
	}
	checkPause = nil
	// A slot scribbled 20 rounds ahead while head stays: corrupt.
	w := atomic.LoadUint64(q.slots[1].word)
	atomic.StoreUint64(q.slots[1].word, w+20<<RCQBRoundShift)
	if err := q.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check with slot 1 20 rounds ahead of a still head = %v, want ErrCorrupt", err)
	}
	atomic.StoreUint64(q.slots[1].word, w|uint64(RCQBStateInvalid)<<RCQBStateShift)
	if err := q.Check(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check with an invalid slot state = %v, want ErrCorrupt", err)
	}
}
