package queue

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var waits = []Wait{Spin, SpinFutex, Futex}

// testDeadline bounds every blocking scenario: a hang fails the test
// instead of stalling the run. It is a liveness bound, not a timing check.
var testDeadline = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("QUEUE_TEST_DEADLINE")); err == nil {
		return d
	}
	return 2 * time.Minute
}()

// newTestQueue formats a design in a fresh Go buffer (Shared designs) or
// in-process.
func newTestQueue(t testing.TB, d Design, cfg Config) (Queue, []byte) {
	t.Helper()
	var mem []byte
	if d.Size != nil {
		if n := d.Size(cfg); n > 0 {
			mem = make([]byte, n)
		}
	}
	q, err := d.New(mem, cfg, true)
	if err != nil {
		t.Fatalf("%s.New(%+v): %v", d.Name, cfg, err)
	}
	return q, mem
}

// forEach runs f for every registered design and wait strategy.
func forEach(t *testing.T, f func(t *testing.T, d Design, w Wait)) {
	if len(Designs()) == 0 {
		t.Fatal("no designs registered")
	}
	for _, d := range Designs() {
		for _, w := range waits {
			t.Run(d.Name+"/"+w.String(), func(t *testing.T) { f(t, d, w) })
		}
	}
}

// bounded reports whether the design refuses items beyond its capacity
// (LCRQ, WFQ and BQ are unbounded).
func bounded(t *testing.T, q Queue, capacity int) bool {
	for i := 0; i < 4*capacity+8; i++ {
		if err := q.TryEnqueue(uint64(i)); errors.Is(err, ErrFull) {
			return true
		} else if err != nil {
			t.Fatalf("TryEnqueue %d: %v", i, err)
		}
	}
	return false
}

func waitDone(t *testing.T, what string, wg *sync.WaitGroup, onTimeout func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(testDeadline):
		if onTimeout != nil {
			onTimeout()
		}
		t.Fatalf("%s did not finish within %v", what, testDeadline)
	}
}

// TestStress runs seeded-random producer/consumer mixes and checks that
// every item comes out exactly once and that each consumer sees each
// producer's items in order (all designs promise that without timeouts).
// The queue is closed as soon as the producers finish, so the test also
// checks that Dequeue drains a closed queue before reporting ErrClosed.
func TestStress(t *testing.T) {
	items := 100_000
	if testing.Short() {
		items = 20_000
	}
	forEach(t, func(t *testing.T, d Design, w Wait) {
		seed := uint64(time.Now().UnixNano())
		if s := os.Getenv("QUEUE_TEST_SEED"); s != "" {
			seed, _ = strconv.ParseUint(s, 10, 64)
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		producers, consumers := 1+rng.IntN(8), 1+rng.IntN(8)
		capacity := []int{2, 8, 64, 1024}[rng.IntN(4)]
		t.Logf("seed %d: %d producers, %d consumers, capacity %d, %d items", seed, producers, consumers, capacity, items)
		q, _ := newTestQueue(t, d, Config{Capacity: capacity, Wait: w, SpinBudget: 100})
		perProducer := items / producers

		var prod, cons sync.WaitGroup
		seen := make([][]atomic.Uint32, producers)
		for p := range seen {
			seen[p] = make([]atomic.Uint32, perProducer)
		}
		errs := make(chan error, producers+consumers)
		for p := 0; p < producers; p++ {
			prod.Add(1)
			go func() {
				defer prod.Done()
				for i := 0; i < perProducer; i++ {
					v := uint64(p)<<32 | uint64(i)
					var err error
					if i%7 == 3 {
						for err = q.TryEnqueue(v); errors.Is(err, ErrFull); err = q.TryEnqueue(v) {
							runtime.Gosched()
						}
					} else {
						err = q.Enqueue(v)
					}
					if err != nil {
						errs <- fmt.Errorf("producer %d item %d: %w", p, i, err)
						return
					}
				}
			}()
		}
		for c := 0; c < consumers; c++ {
			cons.Add(1)
			go func() {
				defer cons.Done()
				last := make([]int64, producers)
				for i := range last {
					last[i] = -1
				}
				for n := 0; ; n++ {
					var v uint64
					var err error
					if n%5 == 2 {
						if v, err = q.TryDequeue(); errors.Is(err, ErrEmpty) {
							runtime.Gosched()
							continue
						}
					} else {
						v, err = q.Dequeue()
					}
					if errors.Is(err, ErrClosed) {
						return
					}
					if err != nil {
						errs <- fmt.Errorf("consumer %d: %w", c, err)
						return
					}
					p, i := int(v>>32), int64(uint32(v))
					if p >= producers || i >= int64(perProducer) {
						errs <- fmt.Errorf("consumer %d got an item never enqueued: %#x", c, v)
						return
					}
					if i <= last[p] {
						errs <- fmt.Errorf("consumer %d got producer %d's item %d after item %d", c, p, i, last[p])
						return
					}
					last[p] = i
					seen[p][i].Add(1)
				}
			}()
		}
		waitDone(t, "producers", &prod, func() {
			if os.Getenv("QUEUE_TEST_STACKS") != "" {
				buf := make([]byte, 1<<20)
				t.Logf("%s", buf[:runtime.Stack(buf, true)])
			}
			q.Close()
			for len(errs) > 0 {
				t.Error(<-errs)
			}
		})
		q.Close()
		waitDone(t, "consumers", &cons, nil)
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for p := range seen {
			for i := range seen[p] {
				if n := seen[p][i].Load(); n != 1 {
					t.Fatalf("producer %d item %d dequeued %d times", p, i, n)
				}
			}
		}
	})
}

// TestCloseWakesWaiters blocks enqueuers on a full queue and dequeuers on
// an empty one, closes, and expects every one of them back with ErrClosed.
func TestCloseWakesWaiters(t *testing.T) {
	forEach(t, func(t *testing.T, d Design, w Wait) {
		cfg := Config{Capacity: 2, Wait: w}
		full, _ := newTestQueue(t, d, cfg)
		empty, _ := newTestQueue(t, d, cfg)
		isBounded := bounded(t, full, 2)

		var wg sync.WaitGroup
		results := make(chan error, 8)
		for i := 0; i < 4; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := empty.Dequeue()
				results <- err
			}()
			if isBounded {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results <- full.Enqueue(99)
				}()
			}
		}
		time.Sleep(20 * time.Millisecond) // let them block; correctness does not depend on it
		empty.Close()
		full.Close()
		waitDone(t, "blocked operations after Close", &wg, nil)
		close(results)
		for err := range results {
			if !errors.Is(err, ErrClosed) {
				t.Errorf("blocked operation returned %v, want ErrClosed", err)
			}
		}
		if err := empty.Enqueue(1); !errors.Is(err, ErrClosed) {
			t.Errorf("Enqueue after Close: %v, want ErrClosed", err)
		}
		if err := empty.TryEnqueue(1); !errors.Is(err, ErrClosed) {
			t.Errorf("TryEnqueue after Close: %v, want ErrClosed", err)
		}
		if _, err := empty.TryDequeue(); !errors.Is(err, ErrClosed) {
			t.Errorf("TryDequeue on a closed empty queue: %v, want ErrClosed", err)
		}
	})
}

// TestTimeout: blocking operations give up with ErrTimeout, and the queue
// keeps working afterwards without losing or duplicating items.
func TestTimeout(t *testing.T) {
	forEach(t, func(t *testing.T, d Design, w Wait) {
		cfg := Config{Capacity: 4, Wait: w, SpinBudget: 10, Timeout: 20 * time.Millisecond}
		q, _ := newTestQueue(t, d, cfg)
		for i := 0; i < 3; i++ {
			if _, err := q.Dequeue(); !errors.Is(err, ErrTimeout) {
				t.Fatalf("Dequeue on an empty queue: %v, want ErrTimeout", err)
			}
		}
		// The abandoned dequeue tickets must not swallow later items.
		for i := uint64(1); i <= 3; i++ {
			if err := q.Enqueue(i); err != nil {
				t.Fatalf("Enqueue(%d) after timeouts: %v", i, err)
			}
		}
		for i := uint64(1); i <= 3; i++ {
			if v, err := q.Dequeue(); err != nil || v != i {
				t.Fatalf("Dequeue after timeouts = %d, %v; want %d", v, err, i)
			}
		}

		// Full queue: a timed-out Enqueue leaves no trace.
		n := 0
		for ; n < 64; n++ {
			if err := q.TryEnqueue(uint64(100 + n)); errors.Is(err, ErrFull) {
				break
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if n == 64 {
			return // unbounded design: Enqueue never waits
		}
		if err := q.Enqueue(999); !errors.Is(err, ErrTimeout) {
			t.Fatalf("Enqueue on a full queue: %v, want ErrTimeout", err)
		}
		for i := 0; i < n; i++ {
			v, err := q.Dequeue()
			if err != nil || v != uint64(100+i) {
				t.Fatalf("Dequeue %d of a full queue = %d, %v; want %d", i, v, err, 100+i)
			}
		}
		if v, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("TryDequeue after draining = %d, %v; want ErrEmpty (the timed-out item must not appear)", v, err)
		}
		if err := q.Enqueue(7); err != nil {
			t.Fatal(err)
		}
		if v, err := q.Dequeue(); v != 7 || err != nil {
			t.Fatalf("Dequeue = %d, %v; want 7", v, err)
		}
	})
}

// TestTryOps: TryDequeue on empty, TryEnqueue on full, FIFO in between.
func TestTryOps(t *testing.T) {
	forEach(t, func(t *testing.T, d Design, w Wait) {
		q, _ := newTestQueue(t, d, Config{Capacity: 8, Wait: w})
		if _, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("TryDequeue on empty: %v, want ErrEmpty", err)
		}
		n := 0
		for ; n < 100; n++ {
			err := q.TryEnqueue(uint64(n))
			if errors.Is(err, ErrFull) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if n < 100 && n < 8 {
			t.Fatalf("queue of capacity 8 full after %d items", n)
		}
		for i := 0; i < n; i++ {
			if v, err := q.TryDequeue(); err != nil || v != uint64(i) {
				t.Fatalf("TryDequeue %d = %d, %v", i, v, err)
			}
		}
		if _, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
			t.Fatalf("TryDequeue after draining: %v, want ErrEmpty", err)
		}
		// Items left at Close are still delivered, then ErrClosed.
		q.TryEnqueue(5)
		q.Close()
		if v, err := q.Dequeue(); v != 5 || err != nil {
			t.Fatalf("Dequeue after Close = %d, %v; want the remaining item 5", v, err)
		}
		if _, err := q.Dequeue(); !errors.Is(err, ErrClosed) {
			t.Fatalf("Dequeue on a closed drained queue: %v, want ErrClosed", err)
		}
	})
}

func TestRegistry(t *testing.T) {
	want := []string{"bq", "channel", "lcrq", "mutex-ring", "rcqb", "vyukov", "wfq"}
	for _, name := range want {
		d, err := Lookup(name)
		if err != nil {
			t.Errorf("Lookup(%q): %v", name, err)
			continue
		}
		if d.Size == nil {
			t.Errorf("design %s has no Size function", name)
			continue
		}
		if n := d.Size(Config{Capacity: 16}); d.Shared != (n > 0) {
			t.Errorf("design %s: Shared=%v but Size=%d", name, d.Shared, n)
		}
	}
	if _, err := Lookup("no-such-design"); err == nil {
		t.Error("Lookup of an unknown design succeeded")
	}
	d, _ := Lookup("rcqb")
	if _, err := d.New(make([]byte, 10), Config{Capacity: 16}, true); err == nil {
		t.Error("rcqb.New accepted too little memory")
	}
	if _, err := d.New(make([]byte, d.Size(Config{Capacity: 16})), Config{Capacity: -1}, true); err == nil {
		t.Error("rcqb.New accepted a negative capacity")
	}
}

// TestStressWithTimeouts makes operations give up all the time (tiny
// capacity, sub-millisecond timeouts) and checks the contract of abandoned
// operations: an item whose Enqueue succeeded comes out exactly once, an
// item whose Enqueue timed out never comes out.
func TestStressWithTimeouts(t *testing.T) {
	forEach(t, func(t *testing.T, d Design, w Wait) {
		seed := uint64(time.Now().UnixNano())
		rng := rand.New(rand.NewPCG(seed, 2))
		producers, consumers, perProducer := 1+rng.IntN(4), 1+rng.IntN(4), 3000
		timeout := time.Duration(50+rng.IntN(500)) * time.Microsecond
		t.Logf("seed %d: %d producers, %d consumers, timeout %v", seed, producers, consumers, timeout)
		q, _ := newTestQueue(t, d, Config{Capacity: 2, Wait: w, SpinBudget: 20, Timeout: timeout})

		enqueued := make([][]bool, producers)
		seen := make([][]atomic.Uint32, producers)
		errs := make(chan error, producers+consumers)
		var prod, cons sync.WaitGroup
		for p := 0; p < producers; p++ {
			enqueued[p] = make([]bool, perProducer)
			seen[p] = make([]atomic.Uint32, perProducer)
			prod.Add(1)
			go func() {
				defer prod.Done()
				for i := 0; i < perProducer; i++ {
					switch err := q.Enqueue(uint64(p)<<32 | uint64(i)); {
					case err == nil:
						enqueued[p][i] = true
					case !errors.Is(err, ErrTimeout):
						errs <- fmt.Errorf("producer %d: %w", p, err)
						return
					}
				}
			}()
		}
		for c := 0; c < consumers; c++ {
			cons.Add(1)
			go func() {
				defer cons.Done()
				for {
					v, err := q.Dequeue()
					switch {
					case errors.Is(err, ErrClosed):
						return
					case errors.Is(err, ErrTimeout):
						continue
					case err != nil:
						errs <- fmt.Errorf("consumer %d: %w", c, err)
						return
					}
					if p, i := int(v>>32), int(uint32(v)); p < producers && i < perProducer {
						seen[p][i].Add(1)
					} else {
						errs <- fmt.Errorf("consumer %d got an item never enqueued: %#x", c, v)
						return
					}
				}
			}()
		}
		waitDone(t, "producers", &prod, func() { q.Close() })
		q.Close()
		waitDone(t, "consumers", &cons, nil)
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		timedOut := 0
		for p := range seen {
			for i := range seen[p] {
				want := uint32(0)
				if enqueued[p][i] {
					want = 1
				} else {
					timedOut++
				}
				if n := seen[p][i].Load(); n != want {
					t.Fatalf("producer %d item %d (enqueued: %v) dequeued %d times", p, i, enqueued[p][i], n)
				}
			}
		}
		t.Logf("%d enqueues timed out", timedOut)
	})
}
