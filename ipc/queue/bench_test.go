package queue

import (
	"testing"
)

// BenchmarkSendRecv passes items from one producer goroutine to the
// benchmark goroutine through every design and wait strategy (after
// gvisor's flipcall BenchmarkSendRecv). Compare designs as ratios within
// one run; the machines here are shared, noisy 2-vCPU VMs.
func BenchmarkSendRecv(b *testing.B) {
	for _, d := range Designs() {
		for _, w := range waits {
			b.Run(d.Name+"/"+w.String(), func(b *testing.B) {
				q, _ := newTestQueue(b, d, Config{Capacity: 1024, Wait: w, SpinBudget: 200})
				b.SetBytes(8)
				done := make(chan error, 1)
				n := b.N
				go func() {
					for i := 0; i < n; i++ {
						if err := q.Enqueue(uint64(i)); err != nil {
							done <- err
							return
						}
					}
					done <- nil
				}()
				b.ResetTimer()
				for i := 0; i < n; i++ {
					if _, err := q.Dequeue(); err != nil {
						b.Fatal(err)
					}
				}
				if err := <-done; err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// TestRCQBNoAllocs: RCQB sits on the hot path of every filesystem request;
// its operations must not allocate.
func TestRCQBNoAllocs(t *testing.T) {
	d, _ := Lookup("rcqb")
	for _, w := range waits {
		q, _ := newTestQueue(t, d, Config{Capacity: 64, Wait: w})
		allocs := testing.AllocsPerRun(1000, func() {
			q.Enqueue(1)
			q.Dequeue()
			q.TryEnqueue(2)
			q.TryDequeue()
			q.(LazyEnqueuer).EnqueueLazy(3)
			q.Dequeue()
		})
		if allocs != 0 {
			t.Errorf("%v: %v allocations per enqueue/dequeue pair, want 0", w, allocs)
		}
	}
}
