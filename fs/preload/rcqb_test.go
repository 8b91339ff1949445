package preload_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"sync"
	"testing"
	"time"

	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// TestRCQBInterop checks the library's C port of the RCQB enqueue side
// (src/rcqb.c, layout constants generated from Go into polytropon_wire.h)
// against the Go queue: Go
// formats a queue in a System V segment, several C processes enqueue into
// it at once while Go dequeues. Every item must come out exactly once and
// each producer's items in order. A small capacity makes the producers
// wrap around the ring and wait for free slots (spinning, then sleeping on
// the slot futex that Go's dequeue wakes).
func TestRCQBInterop(t *testing.T) {
	prog := compile(t, "testdata/rcqb_enqueue.c", "src/rcqb.c", "src/sys.c", "-I.", "-Isrc")
	d, err := queue.Lookup("rcqb")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []queue.Wait{queue.Spin, queue.SpinFutex, queue.Futex} {
		t.Run(w.String(), func(t *testing.T) {
			cfg := queue.Config{Capacity: 8, Wait: w, SpinBudget: 50, Timeout: 10 * time.Second}
			key := int(rand.Int32N(1<<30)) + 1
			seg, err := shm.Create(key, d.Size(cfg))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { seg.Remove(); seg.Detach() })
			q, err := d.New(seg.Bytes(), cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			const producers, per = 3, 3000
			var wg sync.WaitGroup
			errs := make(chan error, producers)
			for p := 0; p < producers; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					first := uint64(p+1) << 32
					out, err := exec.Command(prog, fmt.Sprint(key), fmt.Sprint(first), fmt.Sprint(per), fmt.Sprint(int(w))).CombinedOutput()
					if err != nil {
						errs <- fmt.Errorf("producer %d: %v\n%s", p, err, out)
					}
				}()
			}
			next := make([]uint64, producers)
			for i := 0; i < producers*per; i++ {
				v, err := q.Dequeue()
				if err != nil {
					t.Fatalf("dequeue %d: %v", i, err)
				}
				p, seq := int(v>>32)-1, v&0xffffffff
				if p < 0 || p >= producers || seq != next[p] {
					t.Fatalf("item %#x out of order or unknown (next of producer %d: %d)", v, p, next[min(max(p, 0), producers-1)])
				}
				next[p]++
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if v, err := q.TryDequeue(); err == nil {
				t.Errorf("extra item %#x", v)
			}
		})
	}
}
