package back

import (
	"bytes"
	"os"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// Service threads by queue, for the quarantine's evidence: an item that
// a service thread of the queue may still be taking (it took the ticket
// and was descheduled before it claimed the item) proves nothing against
// the tenant. noTaker tells when no thread can be holding one.

// threadOf records that the calling service thread (locked to its OS
// thread) serves queue q.
func (d *Driver) threadOf(q uint32) {
	g := &d.guards[q]
	tid := unix.Gettid()
	g.tidMu.Lock()
	if !slices.Contains(g.tids, tid) {
		g.tids = append(g.tids, tid)
		g.threadsSeen++
	}
	g.tidMu.Unlock()
}

// takerMark is the state noTaker compares against: the items taken from
// the queue, the threads that served it, and whether one thread alone
// served it then.
type takerMark struct {
	items, threads uint64
	alone          bool
}

func (g *queueGuard) mark() takerMark {
	g.tidMu.Lock()
	defer g.tidMu.Unlock()
	g.prune()
	return takerMark{items: g.items.Load(), threads: g.threadsSeen, alone: len(g.tids) == 1}
}

// noTaker reports whether, since mark m, no service thread of the queue
// can hold an item it took but has not claimed: every thread of the
// queue sleeps now (state S: a thread between its ticket and its claim is
// runnable), or one thread alone served the queue all along and has
// taken another item since (it takes one at a time).
func (g *queueGuard) noTaker(m takerMark) bool {
	g.tidMu.Lock()
	defer g.tidMu.Unlock()
	g.prune()
	if m.alone && len(g.tids) == 1 && g.threadsSeen == m.threads && g.items.Load() > m.items {
		return true
	}
	for _, tid := range g.tids {
		if st, ok := threadState(tid); ok && st != 'S' {
			return false
		}
	}
	return true
}

// prune forgets the threads that are gone. Preconditions: g.tidMu held.
func (g *queueGuard) prune() {
	live := g.tids[:0]
	for _, tid := range g.tids {
		if _, ok := threadState(tid); ok {
			live = append(live, tid)
		}
	}
	g.tids = live
}

// threadState is the state letter of thread tid of this process (false
// when it is gone).
func threadState(tid int) (byte, bool) {
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, false
	}
	// pid (comm) state ...: comm may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return 0, false
	}
	return b[i+2], true
}
