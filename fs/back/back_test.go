package back_test

import (
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/back"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// handler answers Args[0] * 2; a request with Args[1] == 1 blocks until
// release is closed.
type handler struct {
	release chan struct{}
	blocked atomic.Int32
	served  atomic.Int32
}

func (h *handler) Serve(b *wire.Buffer, req *wire.Request) int64 {
	if req.Args[1] == 1 {
		h.blocked.Add(1)
		<-h.release
	}
	h.served.Add(1)
	return int64(req.Args[0] * 2)
}

// newDriver formats a segment in Go memory (the driver cannot tell) and
// starts a driver over it.
func newDriver(t *testing.T, wait queue.Wait, h back.Handler, mods ...func(*back.Config)) (*wire.Seg, *back.Driver, queue.Queue) {
	t.Helper()
	d, err := queue.Lookup("rcqb")
	if err != nil {
		t.Fatal(err)
	}
	qcfg := queue.Config{Capacity: 64, Wait: wait}
	l, err := wire.NewLayout(wire.Params{QueueDesign: "rcqb", QueueWait: uint32(wait), QueueCapacity: 64,
		QueueBytes: uint64(d.Size(qcfg)), NumQueues: 1, NumMounts: 1, NumClients: 1, NumBuffers: 32,
		DataSize: 4096, QueueOfCPU: []uint8{0}})
	if err != nil {
		t.Fatal(err)
	}
	mem := make([]byte, l.SegmentSize) // large Go allocations are page aligned
	w, err := wire.Format(mem, l, 1)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logs []string
	cfg := back.Config{Design: d, Queue: qcfg, ExtraThreshold: 2, MaxExtra: 1,
		SpinFor: 100 * time.Microsecond, Logf: func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() }}
	for _, m := range mods {
		m(&cfg)
	}
	drv, err := back.New(w, cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	drv.Start()
	t.Cleanup(drv.Stop)
	mem0, _, _ := w.QueueMem(0)
	q, err := d.New(mem0, queue.Config{Capacity: 64, Wait: wait, Timeout: time.Second}, false)
	if err != nil {
		t.Fatal(err)
	}
	return w, drv, q
}

func submit(t *testing.T, w *wire.Seg, q queue.Queue, i uint32, req wire.Request) *wire.Buffer {
	t.Helper()
	b, err := w.Buffer(i)
	if err != nil {
		t.Fatal(err)
	}
	b.WriteRequest(&req)
	b.ResetCompletion()
	b.SetState(wire.StateSubmitted)
	if err := q.Enqueue(uint64(i)); err != nil {
		t.Fatal(err)
	}
	return b
}

func waitDone(t *testing.T, b *wire.Buffer) int64 {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !b.Completed() {
		if time.Now().After(deadline) {
			t.Fatalf("buffer %d not done (state %d)", b.Index, b.State())
		}
		time.Sleep(100 * time.Microsecond)
	}
	return b.Ret()
}

func TestServeAndDrop(t *testing.T) {
	for _, wait := range []queue.Wait{queue.Spin, queue.SpinFutex, queue.Futex, queue.Adaptive} {
		t.Run(wait.String(), func(t *testing.T) {
			h := &handler{release: make(chan struct{})}
			w, drv, q := newDriver(t, wait, h)
			for i := uint32(0); i < 10; i++ {
				b := submit(t, w, q, i, wire.Request{Args: [wire.NumArgs]uint64{uint64(i)}})
				if got := waitDone(t, b); got != int64(2*i) {
					t.Errorf("request %d: ret %d, want %d", i, got, 2*i)
				}
			}
			// An index past the buffers and a buffer that is not
			// submitted are dropped, not served.
			q.Enqueue(1 << 33)
			q.Enqueue(3) // done, not submitted
			b := submit(t, w, q, 4, wire.Request{Args: [wire.NumArgs]uint64{21}})
			if got := waitDone(t, b); got != 42 {
				t.Errorf("after bad items: ret %d", got)
			}
			deadline := time.Now().Add(5 * time.Second)
			for drv.Dropped() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if drv.Dropped() != 2 || h.served.Load() != 11 {
				t.Errorf("dropped %d served %d, want 2 and 11", drv.Dropped(), h.served.Load())
			}
		})
	}
}

// TestExtraThreads: with the only thread stuck in a long request and the
// queue above its threshold, Balance adds a thread that serves the rest.
func TestExtraThreads(t *testing.T) {
	h := &handler{release: make(chan struct{})}
	w, drv, q := newDriver(t, queue.SpinFutex, h)
	slow := submit(t, w, q, 0, wire.Request{Args: [wire.NumArgs]uint64{1, 1}})
	for h.blocked.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var fast []*wire.Buffer
	for i := uint32(1); i <= 5; i++ {
		fast = append(fast, submit(t, w, q, i, wire.Request{Args: [wire.NumArgs]uint64{uint64(i)}}))
	}
	if drv.Threads() != 1 {
		t.Fatalf("%d threads before Balance, want 1", drv.Threads())
	}
	drv.Balance()
	drv.Balance() // MaxExtra is 1
	for i, b := range fast {
		if got := waitDone(t, b); got != int64(2*(i+1)) {
			t.Errorf("fast request %d: %d", i+1, got)
		}
	}
	if n := drv.Threads(); n != 2 {
		t.Errorf("%d threads while one is stuck, want 2", n)
	}
	close(h.release)
	waitDone(t, slow)
	// The extra thread leaves once idle.
	deadline := time.Now().Add(5 * time.Second)
	for drv.Threads() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if drv.Threads() != 1 {
		t.Errorf("%d threads after the burst, want 1", drv.Threads())
	}
}

// niceHandler answers the nice value of the thread that serves the request.
type niceHandler struct{}

func (niceHandler) Serve(b *wire.Buffer, req *wire.Request) int64 {
	prio, err := unix.Getpriority(unix.PRIO_PROCESS, 0) // this thread; the kernel answers 20 - nice
	if err != nil {
		return -int64(err.(unix.Errno))
	}
	return int64(20 - prio)
}

// TestServiceThreadNice: Config.Nice is the nice value of the threads that
// serve requests (a positive one: raising priority needs privilege).
func TestServiceThreadNice(t *testing.T) {
	for _, nice := range []int{0, 5} {
		w, _, q := newDriver(t, queue.Adaptive, niceHandler{}, func(c *back.Config) { c.Nice = nice })
		want := int64(nice)
		if nice == 0 {
			p, err := unix.Getpriority(unix.PRIO_PROCESS, 0)
			if err != nil {
				t.Fatal(err)
			}
			want = int64(20 - p) // the process's, unchanged
		}
		if got := waitDone(t, submit(t, w, q, 0, wire.Request{})); got != want {
			t.Errorf("Nice %d: the serving thread runs at nice %d, want %d", nice, got, want)
		}
	}
}

// TestAwakeWord: a queue's QueueStats.Awake counts its service threads
// that are not asleep on it: 1 while one serves, 0 while it sleeps and
// after Stop.
func TestAwakeWord(t *testing.T) {
	h := &handler{release: make(chan struct{})}
	w, drv, q := newDriver(t, queue.Futex, h)
	_, st, err := w.QueueMem(0)
	if err != nil {
		t.Fatal(err)
	}
	awakeBecomes := func(want uint32, when string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for atomic.LoadUint32(st.Awake) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: Awake %d, want %d", when, atomic.LoadUint32(st.Awake), want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	awakeBecomes(0, "idle (futex wait: the thread sleeps at once)")
	slow := submit(t, w, q, 0, wire.Request{Args: [wire.NumArgs]uint64{1, 1}})
	for h.blocked.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	if got := atomic.LoadUint32(st.Awake); got != 1 || !st.ServiceAwake() {
		t.Errorf("while the thread serves: Awake %d (ServiceAwake %v), want 1", got, st.ServiceAwake())
	}
	close(h.release)
	waitDone(t, slow)
	awakeBecomes(0, "idle again")
	drv.Stop()
	if got := atomic.LoadUint32(st.Awake); got != 0 {
		t.Errorf("after Stop: Awake %d, want 0", got)
	}
}

// commHandler answers whether the serving thread is named polysvc-q0 (1)
// or not (0), or 2 when it is the process's main thread, which keeps the
// process's name.
type commHandler struct{}

func (commHandler) Serve(b *wire.Buffer, req *wire.Request) int64 {
	if unix.Gettid() == unix.Getpid() {
		return 2
	}
	comm, err := os.ReadFile("/proc/thread-self/comm")
	if err != nil {
		return -int64(syscall.EIO)
	}
	if strings.TrimSpace(string(comm)) != "polysvc-q0" {
		return 0
	}
	return 1
}

// TestServiceThreadName: a service thread is named after its queue, so
// that perf and /proc tell it from the process's other threads.
func TestServiceThreadName(t *testing.T) {
	w, _, q := newDriver(t, queue.Futex, commHandler{})
	if got := waitDone(t, submit(t, w, q, 0, wire.Request{})); got != 1 && got != 2 {
		t.Errorf("the serving thread is not named polysvc-q0 (answer %d)", got)
	}
}
