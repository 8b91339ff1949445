package queue

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// TestRCQBEnqueueLazy: an EnqueueLazy onto a queue whose dequeuer sleeps
// leaves that dequeuer asleep and returns the wake-up it owes; Do wakes it
// and it takes the item. Without a sleeper nothing is owed. Both ways a
// dequeuer sleeps are covered: on its ticket's slot (no timeout) and, before
// taking a ticket, on the slot of head (with a timeout, as the service).
func TestRCQBEnqueueLazy(t *testing.T) {
	for _, timeout := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprintf("timeout=%v", timeout), func(t *testing.T) {
			q := newTestRCQB(t, Config{Capacity: 4, Wait: Futex, Timeout: timeout})
			got := make(chan uint64, 1)
			go func() {
				v, err := q.Dequeue()
				if err != nil {
					t.Errorf("Dequeue: %v", err)
				}
				got <- v
			}()
			deadline := time.Now().Add(10 * time.Second)
			for atomic.LoadUint64(q.slots[0].word)&RCQBSlotWaiters == 0 {
				if time.Now().After(deadline) {
					t.Fatal("the dequeuer never slept on slot 0")
				}
				time.Sleep(time.Millisecond)
			}
			owed, err := q.EnqueueLazy(7)
			if err != nil {
				t.Fatalf("EnqueueLazy: %v", err)
			}
			if !owed.Owed() {
				t.Fatal("EnqueueLazy onto a sleeping dequeuer owes no wake-up")
			}
			select {
			case v := <-got:
				t.Fatalf("the dequeuer woke before the owed wake-up (took %d)", v)
			case <-time.After(50 * time.Millisecond):
			}
			owed.Do()
			select {
			case v := <-got:
				if v != 7 {
					t.Fatalf("dequeued %d, want 7", v)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Do did not wake the dequeuer")
			}

			owed, err = q.EnqueueLazy(8)
			if err != nil || owed.Owed() {
				t.Fatalf("EnqueueLazy with no sleeper = owed %v, %v; want nothing owed", owed.Owed(), err)
			}
			if v, err := q.TryDequeue(); err != nil || v != 8 {
				t.Fatalf("TryDequeue = %d, %v; want 8", v, err)
			}
		})
	}
}
