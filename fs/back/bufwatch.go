package back

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"time"

	"polytropon/fs/wire"
)

// Buffer watch: a request whose descriptor words a tenant scribbled while
// it was in flight would leave its client waiting for ever (the service
// is alive, so the client's liveness checks pass). Check scans the
// descriptors and answers EIO to a request that can no longer be
// answered otherwise, when the same impossible state is seen in two scans
// with no request of the buffer served in between:
//   - a state word no party writes;
//   - Busy with Done = 0 while no service thread serves it (Done cleared
//     after the answer);
//   - Idle with the client asleep on Done (Submitted cleared in flight);
//   - Submitted for longer than lostAfter while its queue is empty, or
//     naming no queue (the queue item was lost).

// lostAfter is how long a submitted request may wait while its queue is
// empty before it is taken as lost (an enqueue takes microseconds).
const lostAfter = 500 * time.Millisecond

// bufWatch is the per-buffer state of the watch.
type bufWatch struct {
	// serving counts the service threads serving the buffer's requests:
	// a count, not a flag, because the client may submit the buffer's
	// next request, and another thread take it, between a thread's
	// Complete and its endServe (a flag cleared then hid the other
	// thread's work, and the watch answered its request EIO).
	serving atomic.Int32
	served  atomic.Uint64 // requests of the buffer taken by service threads

	// Check's own (one Check at a time: watchMu).
	anomaly     int // which impossible state the last scan saw (0: none)
	anomalySeen uint64
	since       time.Time // when the buffer was first seen Submitted
	sinceServed uint64
}

// Anomalies of a descriptor.
const (
	anomalyNone = iota
	anomalyState
	anomalyDoneCleared
	anomalySubmitCleared
	anomalyLost
)

// beginServe and endServe bracket a service thread's work on buffer idx.
func (d *Driver) beginServe(idx uint64) { w := &d.watch[idx]; w.served.Add(1); w.serving.Add(1) }
func (d *Driver) endServe(idx uint64)   { d.watch[idx].serving.Add(-1) }

// checkBuffers is the buffer part of Check.
func (d *Driver) checkBuffers() {
	if !d.watchMu.TryLock() {
		return
	}
	defer d.watchMu.Unlock()
	now := time.Now()
	for i, b := range d.bufs {
		w := &d.watch[i]
		served := w.served.Load()
		st := b.State()
		a := anomalyNone
		switch {
		case st > wire.StateBusy:
			a = anomalyState
		case st == wire.StateBusy && !b.Completed() && w.serving.Load() == 0:
			a = anomalyDoneCleared
		case st == wire.StateIdle && b.Waiter() != 0 && !b.Completed():
			a = anomalySubmitCleared
		case st == wire.StateSubmitted:
			if w.since.IsZero() || w.sinceServed != served {
				w.since, w.sinceServed = now, served
			} else if q := b.Queue(); now.Sub(w.since) > lostAfter && (q >= uint32(len(d.queues)) || d.Backlog(q) == 0) {
				a = anomalyLost
			}
		}
		if st != wire.StateSubmitted {
			w.since = time.Time{}
		}
		if a == anomalyNone || a != w.anomaly || served != w.anomalySeen {
			w.anomaly, w.anomalySeen = a, served
			if a != anomalyLost { // seen once: wait for the next scan
				continue
			}
		}
		w.anomaly = anomalyNone
		d.answerStuck(uint32(i), b, a, st)
	}
}

// answerStuck answers EIO to buffer i's request found in anomaly a.
func (d *Driver) answerStuck(i uint32, b *wire.Buffer, a int, st uint32) {
	var what string
	switch a {
	case anomalyState:
		if !b.CASState(st, wire.StateBusy) {
			return
		}
		what = fmt.Sprintf("state word %d", st)
	case anomalyDoneCleared:
		what = "completion cleared after the answer"
	case anomalySubmitCleared:
		what = "state cleared while its client waits"
	case anomalyLost:
		if !b.CASState(wire.StateSubmitted, wire.StateBusy) {
			return
		}
		what = fmt.Sprintf("submitted for over %v, its queue %d empty: the queue item was lost", lostAfter, b.Queue())
	}
	b.Complete(-int64(syscall.EIO))
	d.incidents.Add(fmt.Sprintf("back: buffer %d", i), what+"; the request was answered EIO")
}
