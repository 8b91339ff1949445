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
//   - Submitted for lostAfter with the evidence of lost (the queue item
//     was lost).

// lostAfter is how long a submitted request must look lost (lost) in
// every scan before it is answered: two scans at least, so that the
// reads of one scan racing with a dequeue never decide alone.
const lostAfter = 100 * time.Millisecond

// lostLooking reports whether the submitted request of b looks lost: it
// names no queue (no client writes that), or its client waits for the
// answer (Waiter set: it is past its enqueue) while its queue is empty. A
// client descheduled or stopped between its submission and its enqueue
// has not set Waiter, so it never looks lost: it enqueues when it runs
// again.
func (d *Driver) lostLooking(b *wire.Buffer) bool {
	q := b.Queue()
	if q >= uint32(len(d.queues)) {
		return true
	}
	return b.Waiter() != 0 && !b.Completed() && d.Backlog(q) == 0
}

// lost reports whether b, which looked lost since mark m of its queue,
// is: no service thread can hold its item between dequeue and claim
// (noTaker), and b is still submitted after that was read.
func (d *Driver) lost(b *wire.Buffer, m takerMark) bool {
	if q := b.Queue(); q < uint32(len(d.queues)) && !d.guards[q].noTaker(m) {
		return false
	}
	return b.State() == wire.StateSubmitted
}

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
	since       time.Time // since when the buffer looks lost (lostLooking)
	sinceServed uint64
	sinceQueue  uint32
	sinceMark   takerMark // of that queue, then
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
			// The evidence must hold in every scan for lostAfter, with no
			// request of the buffer served in between.
			switch {
			case w.sinceServed != served || !d.lostLooking(b) || (!w.since.IsZero() && b.Queue() != w.sinceQueue):
				w.since, w.sinceServed = time.Time{}, served
			case w.since.IsZero():
				w.since, w.sinceQueue = now, b.Queue()
				if w.sinceQueue < uint32(len(d.queues)) {
					w.sinceMark = d.guards[w.sinceQueue].mark()
				}
			case now.Sub(w.since) >= lostAfter && d.lost(b, w.sinceMark):
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
		what = fmt.Sprintf("submitted for %v while its client waits, its queue %d empty: the queue item was lost", lostAfter, b.Queue())
	}
	b.Complete(-int64(syscall.EIO))
	d.incidents.Add(fmt.Sprintf("back: buffer %d", i), what+"; the request was answered EIO")
}
