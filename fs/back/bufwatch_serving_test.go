package back

import (
	"testing"

	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/ipc/queue"
)

type nopHandler struct{}

func (nopHandler) Serve(*wire.Buffer, *wire.Request) int64 { return 0 }

// TestBufWatchOverlappingServes: a thread's endServe that comes after
// another thread took the buffer's next request does not hide that
// thread's work from the watch (no EIO for a request being served), and
// once nobody serves it, a Busy request whose completion was cleared is
// answered EIO.
func TestBufWatchOverlappingServes(t *testing.T) {
	qcfg := queue.Config{Capacity: 4, Wait: queue.Futex}
	w, design, err := wiretest.Segment(qcfg, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(w, Config{Design: design, Queue: qcfg}, nopHandler{})
	if err != nil {
		t.Fatal(err)
	}
	b := d.bufs[0]
	d.beginServe(0) // thread A serves request 1 ...
	b.SetState(wire.StateBusy)
	b.ResetCompletion() // ... answered, and the client's request 2 ...
	d.beginServe(0)     // ... taken by thread B before A's endServe
	d.endServe(0)       // A
	d.checkBuffers()
	d.checkBuffers()
	if b.Completed() {
		t.Fatalf("the watch answered a request thread B still serves (ret %d)", b.Ret())
	}
	d.endServe(0) // B leaves it Busy and unanswered: a scribbled completion
	d.checkBuffers()
	d.checkBuffers()
	if !b.Completed() || b.Ret() >= 0 {
		t.Fatalf("a Busy request nobody serves, completion cleared: completed %v ret %d, want an EIO answer", b.Completed(), b.Ret())
	}
}
