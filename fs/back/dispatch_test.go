package back_test

import (
	"sync"
	"testing"
	"time"

	"polytropon/fs/back"
	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/ipc/queue"
)

// flowHandler records the order in which tenants (Instance) are served;
// the request with Args[1] == 1 blocks until release is closed, so the
// others pile up behind it.
type flowHandler struct {
	weights map[uint32]int
	release chan struct{}
	blocked chan struct{}

	mu    sync.Mutex
	order []uint32
}

func (h *flowHandler) Serve(b *wire.Buffer, req *wire.Request) int64 {
	if req.Args[1] == 1 {
		close(h.blocked)
		<-h.release
		return 0
	}
	h.mu.Lock()
	h.order = append(h.order, req.Instance)
	h.mu.Unlock()
	return 0
}

func (h *flowHandler) Flow(req *wire.Request) (uint32, int) {
	return req.Instance, h.weights[req.Instance]
}

// contend runs one service thread with weighted dispatch: it blocks in a
// first request while perTenant requests of each tenant 1..tenants are
// queued (a tenant missing in weights is unweighted), then
// serves them all; it returns the order in which tenants were served and
// the driver's grant counts.
func contend(t *testing.T, weights map[uint32]int, tenants, perTenant int, aging bool) ([]uint32, map[uint32]uint64) {
	t.Helper()
	nbuf := 1 + perTenant*tenants
	qcfg := queue.Config{Capacity: 256, Wait: queue.Futex}
	w, d, err := wiretest.Segment(qcfg, 1, nbuf)
	if err != nil {
		t.Fatal(err)
	}
	h := &flowHandler{weights: weights, release: make(chan struct{}), blocked: make(chan struct{})}
	drv, err := back.New(w, back.Config{Design: d, Queue: qcfg, MaxExtra: -1,
		Dispatch: back.Dispatch{Weighted: true, NoAging: !aging}}, h)
	if err != nil {
		t.Fatal(err)
	}
	drv.Start()
	t.Cleanup(drv.Stop)
	mem, _, _ := w.QueueMem(0)
	q, err := d.New(mem, queue.Config{Capacity: 256, Wait: queue.Futex, Timeout: time.Second}, false)
	if err != nil {
		t.Fatal(err)
	}
	submit(t, w, q, 0, wire.Request{Instance: 0, Args: [wire.NumArgs]uint64{0, 1}})
	select {
	case <-h.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("the service thread did not take the first request")
	}
	var bufs []*wire.Buffer
	i := uint32(1)
	for range perTenant {
		for tenant := range uint32(tenants) {
			bufs = append(bufs, submit(t, w, q, i, wire.Request{Instance: 1 + tenant}))
			i++
		}
	}
	close(h.release)
	for _, b := range bufs {
		waitDone(t, b)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]uint32(nil), h.order...), drv.Grants()
}

// TestWeightedDispatch: under contention a tenant of weight 800 gets about
// eight times the service of an unweighted one (weight 100) while both
// wait, and the unweighted one still progresses.
func TestWeightedDispatch(t *testing.T) {
	const per = 60
	order, grants := contend(t, map[uint32]int{1: 800}, 2, per, true)
	if len(order) != 2*per {
		t.Fatalf("served %d requests, want %d", len(order), 2*per)
	}
	// Both tenants wait during the first 54 grants (the heavy one has 60
	// requests): 8:1 gives it 48 of them.
	heavy := 0
	for _, tenant := range order[:54] {
		if tenant == 1 {
			heavy++
		}
	}
	if heavy < 44 || heavy > 50 {
		t.Errorf("weighted tenant got %d of the first 54 grants, want about 48 (8:1); order %v", heavy, order)
	}
	if light := 54 - heavy; light < 4 {
		t.Errorf("unweighted tenant got %d of the first 54 grants: starving", light)
	}
	if grants[1] != per || grants[2] != per || grants[0] != 1 {
		t.Errorf("grants %v, want %d per tenant and 1 for the first request", grants, per)
	}
}

// TestDispatchAging: one tenant of weight 100 among seven of 1000 (the
// aging experiment), all waiting: with aging it is served within
// ⌈Σw/w⌉ + n = 79 grants, and about its share (one in 71) while the
// heavy ones wait; without aging only once the heavy ones are done.
func TestDispatchAging(t *testing.T) {
	weights := map[uint32]int{8: 100}
	for tenant := uint32(1); tenant <= 7; tenant++ {
		weights[tenant] = 1000
	}
	const per = 20 // 140 heavy requests: they wait through the first 142 grants
	lightAt := func(order []uint32) []int {
		var at []int
		for i, tenant := range order {
			if tenant == 8 {
				at = append(at, i+1)
			}
		}
		return at
	}
	order, _ := contend(t, weights, 8, per, true)
	if at := lightAt(order[:142]); len(at) == 0 || at[0] > 79 || len(at) > 3 {
		t.Errorf("with aging: the light tenant served at grants %v of the first 142, want first within 79 and about 2 in all; order %v", at, order)
	}
	order, _ = contend(t, weights, 8, per, false)
	if at := lightAt(order); len(at) == 0 || at[0] != 7*per+1 {
		t.Errorf("without aging: the light tenant served at grants %v, want first at %d (after every heavier request)", at, 7*per+1)
	}
}
