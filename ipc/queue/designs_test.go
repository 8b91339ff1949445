package queue

import (
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

func TestCAS128(t *testing.T) {
	cells := alignedCells(3)
	c := &cells[1]
	if !cas128(c, 0, 0, 7, 8) {
		t.Fatal("cas128 on matching zero words failed")
	}
	if c[0] != 7 || c[1] != 8 {
		t.Fatalf("after cas128: %v, want [7 8]", *c)
	}
	for _, old := range [][2]uint64{{7, 0}, {0, 8}, {8, 7}} {
		if cas128(c, old[0], old[1], 1, 1) {
			t.Fatalf("cas128 with stale %v succeeded", old)
		}
	}
	if *c != [2]uint64{7, 8} || cells[0] != [2]uint64{} || cells[2] != [2]uint64{} {
		t.Fatalf("failed cas128 changed memory: %v", cells)
	}
	// Concurrent increments of both halves stay paired.
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10000; {
				a, b := c[0], c[1]
				if cas128(c, a, b, a+1, b+1) {
					i++
				}
			}
		}()
	}
	wg.Wait()
	if c[0] != 40007 || c[1] != 40008 {
		t.Fatalf("after concurrent cas128: %v, want [40007 40008]", *c)
	}
}

// TestBQBatch mixes announced batches with single operations and checks
// exactly-once delivery and that a batch's dequeues are contiguous FIFO.
func TestBQBatch(t *testing.T) {
	d, err := Lookup("bq")
	if err != nil {
		t.Fatal(err)
	}
	q, _ := newTestQueue(t, d, Config{Capacity: 16, Wait: Futex})
	b, ok := q.(Batcher)
	if !ok {
		t.Fatal("bq does not implement Batcher")
	}
	got, err := b.Batch([]uint64{1, 2, 3}, 2)
	if err != nil || len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("Batch([1 2 3], 2) on an empty queue = %v, %v; want [1 2]", got, err)
	}
	got, _ = b.Batch(nil, 5)
	if len(got) != 1 || got[0] != 3 {
		t.Fatalf("dequeue-only Batch = %v, want [3] (excess dequeues find it empty)", got)
	}
	got, _ = b.Batch([]uint64{4}, 3)
	if len(got) != 1 || got[0] != 4 {
		t.Fatalf("Batch([4], 3) = %v, want [4]", got)
	}

	const workers, rounds = 6, 3000
	var mu sync.Mutex
	seen := map[uint64]int{}
	record := func(vs ...uint64) {
		mu.Lock()
		for _, v := range vs {
			seen[v]++
		}
		mu.Unlock()
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 3))
			for r := 0; r < rounds; r++ {
				base := uint64(w)<<40 | uint64(r)<<8
				switch rng.IntN(3) {
				case 0:
					out, err := b.Batch([]uint64{base, base + 1, base + 2}, rng.IntN(4))
					if err != nil {
						t.Error(err)
						return
					}
					record(out...)
				case 1:
					if err := q.Enqueue(base); err != nil {
						t.Error(err)
						return
					}
				case 2:
					if v, err := q.TryDequeue(); err == nil {
						record(v)
					} else if !errors.Is(err, ErrEmpty) {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	for {
		out, _ := b.Batch(nil, 100)
		if len(out) == 0 {
			break
		}
		record(out...)
	}
	for v, n := range seen {
		if n != 1 {
			t.Fatalf("item %#x dequeued %d times", v, n)
		}
	}
	// Every item enqueued was dequeued: recount what the workers enqueued.
	want := 0
	for w := 0; w < workers; w++ {
		rng := rand.New(rand.NewPCG(uint64(w), 3))
		for r := 0; r < rounds; r++ {
			switch rng.IntN(3) {
			case 0:
				want += 3
				rng.IntN(4)
			case 1:
				want++
			}
		}
	}
	if len(seen) != want {
		t.Fatalf("dequeued %d distinct items, enqueued %d", len(seen), want)
	}
}

func TestWFQRefusesReservedItems(t *testing.T) {
	d, _ := Lookup("wfq")
	q, _ := newTestQueue(t, d, Config{})
	for _, v := range []uint64{^uint64(0), ^uint64(0) - 1} {
		if err := q.Enqueue(v); err == nil {
			t.Errorf("wfq accepted reserved item %#x", v)
		}
	}
	if err := q.Enqueue(^uint64(0) - 2); err != nil {
		t.Fatal(err)
	}
	if v, err := q.Dequeue(); err != nil || v != ^uint64(0)-2 {
		t.Fatalf("Dequeue = %#x, %v", v, err)
	}
}

func TestInProcessDesignsRefuseAttach(t *testing.T) {
	for _, d := range Designs() {
		if d.Shared {
			continue
		}
		if _, err := d.New(make([]byte, 4096), Config{}, false); err == nil {
			t.Errorf("in-process design %s attached to shared memory", d.Name)
		}
	}
}

// TestChannelDrainsLateItems: a consumer that finds the channel empty and
// only then the queue closed must still get what producers enqueued in
// between, before the Close (TestStress lost a producer's last 113 items
// so on a loaded host: the consumer was descheduled between the two
// looks).
func TestChannelDrainsLateItems(t *testing.T) {
	qi, err := newChannel(nil, Config{Capacity: 8, Wait: Futex}, true)
	if err != nil {
		t.Fatal(err)
	}
	q := qi.(*channel)
	t.Cleanup(func() { emptyGap = nil })
	emptyGap = func(c *channel) {
		emptyGap = nil
		if err := c.Enqueue(7); err != nil {
			t.Error(err)
		}
		c.Close()
	}
	if v, err := q.Dequeue(); err != nil || v != 7 {
		t.Fatalf("Dequeue = %d, %v; want the item enqueued before Close", v, err)
	}
	if _, err := q.Dequeue(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dequeue of the drained closed queue: %v, want ErrClosed", err)
	}
}
