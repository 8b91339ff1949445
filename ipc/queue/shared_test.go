package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"

	"polytropon/ipc/shm"
)

// sharedDesigns returns the designs that can live in shared memory.
func sharedDesigns(t *testing.T) []Design {
	var out []Design
	for _, d := range Designs() {
		if d.Shared {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no shared designs registered")
	}
	return out
}

// newSegment creates a System V segment for the test, removed and detached
// when the test ends, pass or fail.
func newSegment(t *testing.T, size int) *shm.Segment {
	t.Helper()
	key := shm.Key(fmt.Sprintf("queue-test-%d", os.Getpid()), t.Name())
	seg, err := shm.Create(key, size)
	if err != nil {
		t.Fatalf("shm.Create: %v", err)
	}
	t.Cleanup(func() {
		seg.Remove()
		seg.Detach()
	})
	return seg
}

// Environment of re-executed helper processes.
const (
	envHelper = "QUEUE_TEST_HELPER" // produce, produce-forever, consume-forever
	envKey    = "QUEUE_TEST_KEY"
	envDesign = "QUEUE_TEST_DESIGN"
	envWait   = "QUEUE_TEST_WAIT"
	envItems  = "QUEUE_TEST_ITEMS"
	envProds  = "QUEUE_TEST_PRODUCERS"
)

// TestHelperProcess is not a test: it is the peer process of the tests
// below, started by re-executing the test binary.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envHelper)
	if mode == "" {
		t.Skip("peer-process body; runs only when re-executed by another test")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	key, _ := strconv.Atoi(os.Getenv(envKey))
	w, err := ParseWait(os.Getenv(envWait))
	if err != nil {
		fail(err)
	}
	d, err := Lookup(os.Getenv(envDesign))
	if err != nil {
		fail(err)
	}
	seg, err := shm.Open(key)
	if err != nil {
		fail(err)
	}
	q, err := d.New(seg.Bytes(), Config{Wait: w, SpinBudget: 100, Timeout: time.Minute}, false)
	if err != nil {
		fail(err)
	}
	items, _ := strconv.Atoi(os.Getenv(envItems))
	producers, _ := strconv.Atoi(os.Getenv(envProds))
	switch mode {
	case "produce":
		var wg sync.WaitGroup
		errs := make(chan error, producers)
		for p := 0; p < producers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < items; i++ {
					if err := q.Enqueue(uint64(p)<<32 | uint64(i)); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			fail(err)
		}
	case "produce-forever":
		for i := uint64(0); ; i++ {
			if err := q.Enqueue(i); err != nil {
				fail(err)
			}
		}
	case "consume-forever":
		for {
			if _, err := q.Dequeue(); err != nil {
				fail(err)
			}
		}
	}
	os.Exit(0)
}

func startPeer(t *testing.T, mode string, seg *shm.Segment, d Design, w Wait, items, producers int) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envHelper+"="+mode, envKey+"="+strconv.Itoa(seg.Key()), envDesign+"="+d.Name,
		envWait+"="+w.String(), envItems+"="+strconv.Itoa(items), envProds+"="+strconv.Itoa(producers))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start peer: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return cmd
}

// TestTwoProcesses formats a queue in a System V segment, lets a second
// process attach and produce from several threads, consumes here and
// checks exactly-once delivery and per-producer order.
func TestTwoProcesses(t *testing.T) {
	const producers, perProducer = 3, 10_000
	for _, d := range sharedDesigns(t) {
		for _, w := range waits {
			t.Run(d.Name+"/"+w.String(), func(t *testing.T) {
				cfg := Config{Capacity: 64, Wait: w, SpinBudget: 100, Timeout: time.Minute}
				seg := newSegment(t, d.Size(cfg))
				q, err := d.New(seg.Bytes(), cfg, true)
				if err != nil {
					t.Fatal(err)
				}
				peer := startPeer(t, "produce", seg, d, w, perProducer, producers)
				next := make([]uint64, producers)
				for n := 0; n < producers*perProducer; n++ {
					v, err := q.Dequeue()
					if err != nil {
						t.Fatalf("Dequeue %d: %v", n, err)
					}
					p, i := v>>32, uint64(uint32(v))
					if p >= producers || i != next[p] {
						t.Fatalf("got item %d of producer %d, want item %d (lost, duplicated or reordered)", i, p, next[p%producers])
					}
					next[p]++
				}
				if err := peer.Wait(); err != nil {
					t.Fatalf("peer: %v", err)
				}
				if v, err := q.TryDequeue(); !errors.Is(err, ErrEmpty) {
					t.Fatalf("extra item %#x after all were consumed (err %v)", v, err)
				}
			})
		}
	}
}

// TestKilledPeer kills the peer with SIGKILL in the middle of a stream; the
// survivor's blocking operations must end with ErrTimeout, not hang.
func TestKilledPeer(t *testing.T) {
	for _, d := range sharedDesigns(t) {
		for _, w := range waits {
			for _, mode := range []string{"produce-forever", "consume-forever"} {
				t.Run(d.Name+"/"+w.String()+"/"+mode, func(t *testing.T) {
					cfg := Config{Capacity: 64, Wait: w, SpinBudget: 100, Timeout: 100 * time.Millisecond}
					seg := newSegment(t, d.Size(cfg))
					q, err := d.New(seg.Bytes(), cfg, true)
					if err != nil {
						t.Fatal(err)
					}
					peer := startPeer(t, mode, seg, d, w, 0, 1)
					op := func() error { _, err := q.Dequeue(); return err }
					if mode == "consume-forever" {
						op = func() error { return q.Enqueue(1) }
					}
					for n := 0; n < 1000; {
						if err := op(); err == nil {
							n++
						} else if !errors.Is(err, ErrTimeout) {
							t.Fatalf("while the peer runs: %v", err)
						}
					}
					peer.Process.Kill()
					peer.Wait()
					done := make(chan error, 1)
					go func() {
						for {
							if err := op(); err != nil {
								done <- err
								return
							}
						}
					}()
					select {
					case err := <-done:
						if !errors.Is(err, ErrTimeout) {
							t.Fatalf("after the peer died: %v, want ErrTimeout", err)
						}
					case <-time.After(testDeadline):
						t.Fatal("survivor hangs after its peer was killed")
					}
				})
			}
		}
	}
}

// TestCorruptedState scribbles over formatted queue memory and runs
// operations through the old handle and a fresh attachment: they may fail,
// but only with the queue's errors, never a panic, a wild index or a hang.
func TestCorruptedState(t *testing.T) {
	allowed := []error{ErrCorrupt, ErrFull, ErrEmpty, ErrTimeout, ErrClosed}
	for _, d := range sharedDesigns(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := Config{Capacity: 8, Wait: Futex, Timeout: time.Millisecond}
			for seed := uint64(0); seed < 40; seed++ {
				rng := rand.New(rand.NewPCG(seed, 7))
				mem := make([]byte, d.Size(cfg))
				q, err := d.New(mem, cfg, true)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 5; i++ {
					q.TryEnqueue(uint64(i))
				}
				q.TryDequeue()
				for n := rng.IntN(20) + 1; n > 0; n-- {
					off := rng.IntN(len(mem) - 8)
					if rng.IntN(3) == 0 {
						off = rng.IntN(min(256, len(mem)-8)) // header and hot words more often
					}
					binary.NativeEndian.PutUint64(mem[off:], rng.Uint64())
				}
				handles := []Queue{q}
				if q2, err := d.New(mem, cfg, false); err == nil {
					handles = append(handles, q2)
				} else if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("seed %d: attach to scribbled memory: %v (want nil or ErrCorrupt)", seed, err)
				}
				done := make(chan error, 1)
				go func() {
					for i := 0; i < 60; i++ {
						h := handles[i%len(handles)]
						var err error
						switch rng.IntN(4) {
						case 0:
							err = h.TryEnqueue(uint64(i))
						case 1:
							_, err = h.TryDequeue()
						case 2:
							err = h.Enqueue(uint64(i))
						case 3:
							_, err = h.Dequeue()
						}
						if err != nil && !isOneOf(err, allowed) {
							done <- fmt.Errorf("op %d: unexpected error %w", i, err)
							return
						}
					}
					done <- nil
				}()
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("seed %d: %v", seed, err)
					}
				case <-time.After(testDeadline):
					t.Fatalf("seed %d: operations on scribbled memory hang", seed)
				}
			}
		})
	}
}

func isOneOf(err error, targets []error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// TestCorruptHeaderRejected: an attacher must refuse memory whose header
// was overwritten (bad magic, impossible capacity).
func TestCorruptHeaderRejected(t *testing.T) {
	for _, d := range sharedDesigns(t) {
		t.Run(d.Name, func(t *testing.T) {
			cfg := Config{Capacity: 16}
			mem := make([]byte, d.Size(cfg))
			if _, err := d.New(mem, cfg, true); err != nil {
				t.Fatal(err)
			}
			if _, err := d.New(mem, cfg, false); err != nil {
				t.Fatalf("attach to intact memory: %v", err)
			}
			good := append([]byte(nil), mem...)
			binary.NativeEndian.PutUint64(mem[0:], 0xdeadbeef)
			if _, err := d.New(mem, cfg, false); !errors.Is(err, ErrCorrupt) {
				t.Errorf("attach with a bad magic: %v, want ErrCorrupt", err)
			}
			copy(mem, good)
			binary.NativeEndian.PutUint64(mem[8:], 1<<40)
			if _, err := d.New(mem, cfg, false); !errors.Is(err, ErrCorrupt) {
				t.Errorf("attach with capacity 2^40: %v, want ErrCorrupt", err)
			}
			if _, err := d.New(good[:100], cfg, false); err == nil {
				t.Errorf("attach to a truncated segment succeeded")
			}
		})
	}
}

// TestCorruptWordsDetected plants specific impossible values and expects
// ErrCorrupt rather than a wild index or a silent wrong answer.
func TestCorruptWordsDetected(t *testing.T) {
	cfg := Config{Capacity: 8, Timeout: time.Millisecond}
	for name, scribble := range map[string]func(mem []byte){
		// slot 0 claims round 5, ahead of ticket 0, which tail says was enqueued
		"rcqb": func(mem []byte) {
			binary.NativeEndian.PutUint64(mem[RCQBOffSlots:], 5<<RCQBRoundShift)
			binary.NativeEndian.PutUint64(mem[RCQBOffTail:], 1)
		},
		// cell 0 sequence far behind position 0
		"vyukov": func(mem []byte) { binary.NativeEndian.PutUint64(mem[vyukovOffCells:], 1<<62) },
		// tail more than capacity ahead of head
		"mutex-ring": func(mem []byte) { binary.NativeEndian.PutUint64(mem[mutexRingOffTail:], 1000) },
	} {
		t.Run(name, func(t *testing.T) {
			d, err := Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			mem := make([]byte, d.Size(cfg))
			q, err := d.New(mem, cfg, true)
			if err != nil {
				t.Fatal(err)
			}
			scribble(mem)
			if _, err := q.TryDequeue(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("TryDequeue: %v, want ErrCorrupt", err)
			}
			if _, err := q.Dequeue(); !errors.Is(err, ErrCorrupt) {
				t.Errorf("Dequeue: %v, want ErrCorrupt", err)
			}
		})
	}
}
