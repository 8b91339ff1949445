package queue

import (
	"fmt"
	"sync/atomic"
	"time"

	"polytropon/ipc/shm"
)

// RCQB is the papers' Relaxed Concurrent Queue, Blocking: a fixed circular
// buffer of slots over caller-supplied (shared) memory. Operations are
// distributed in FIFO order by fetch-and-add on tail (enqueuers) and head
// (dequeuers): ticket t owns slot t mod capacity for round t / capacity.
// They then complete in parallel, possibly out of FIFO order: an enqueuer
// waits until its slot is empty for its round, locks it (state "filling"),
// puts the item, marks it full; its dequeuer waits until the slot is full
// for that round, then reads the item and hands the slot to the next round
// with one CAS (a full slot at the dequeuer's round is its alone, so it
// needs no lock state of its own). Waiting follows Config.Wait; sleepers
// set a waiter flag in the slot word, so a completing operation issues a
// futex wake only when someone sleeps. Enqueuers check for room against
// the largest head they have seen and read the consumers' head line only
// when that says the ring may be full.
//
// Ordering: each consumer sees each producer's items in the order they were
// enqueued (tickets are monotonic), unless timeouts made operations give up
// (see below). Progress: blocking; an operation waits for its round's
// partner only.
//
// Memory layout (byte offsets, native endian; no pointers):
//
//	0    magic uint64, 8 capacity uint64, 16 flags uint32 (closed, broken)
//	64   tail uint64 (own cache line)
//	128  head uint64 (own cache line)
//	192  capacity slots of 64 bytes (one cache line each):
//	     +0 slot word uint64, +8 item uint64
//
// The slot word packs, from bit 0: waiters (1), state (2: empty, filling,
// full; 3 is invalid), round (25, modulo 2^25), enqueuer-gone mask (18),
// dequeuer-gone mask (18). Its low 32 bits are the futex word. The
// constants of this layout are in rcqb_layout.go (shared with the C
// enqueuer of the preload library).
//
// Timeouts and Close (how an abandoned ticket is handled): with a Timeout,
// an operation first waits without a ticket until the queue looks non-empty
// (dequeue) or non-full (enqueue) and the ticket's slot is fewer than
// maxTicketLag rounds behind, so operations timing out on an empty or full
// queue, or behind a stuck slot, hold no ticket. An operation that times out (or is closed)
// while holding a ticket records that its round's party is gone, in the
// gone mask bit for (its round - the slot's round). When the slot reaches that round the partner does not wait for
// nothing: an enqueuer whose dequeuer is gone (also if it notices while
// filling) passes the round on and re-enqueues its item with a new ticket,
// so the item is neither lost nor duplicated; a dequeuer whose enqueuer is
// gone passes the round on and takes a new ticket; a round whose both
// parties are gone is skipped. A timed-out Enqueue returns ErrTimeout and
// its item was not enqueued. Only 18 rounds ahead can be recorded; giving
// up a ticket further ahead (more than 17 x capacity operations queued on
// one slot) marks the queue broken (ErrCorrupt) instead of losing an item
// silently. A dequeuer that gives up on its own round of a slot that is
// still empty skips that round (both gone bits set): an enqueuer killed
// between its ticket and its fill would otherwise leave the slot stuck for
// good; an enqueuer that was only slow finds its round skipped before it
// stores anything and re-enqueues with a new ticket. An enqueuer killed
// while "filling" leaves its slot stuck: survivors that reach it fail with
// ErrTimeout (when Timeout > 0) but never spin forever.
//
// Nothing read from the memory is trusted: slot indices come from
// ticket & mask with the mask fixed at New, and impossible slot states
// (a slot ahead of the ticket's round, a state no party could have set)
// yield ErrCorrupt.
type rcqb struct {
	cfg        Config
	mem        []byte // keeps the memory alive; all access via the pointers below
	mask       uint64
	shift      uint
	flags      *uint32
	tail, head *uint64
	slots      []rcqbSlot
	// magic and capacity are only read by Check (rcqb_check.go).
	magic, capacity *uint64

	// headSeen is the largest head this handle has read (process-local).
	// head only grows, so a stale value underestimates the room left:
	// enqueuers check for room against it and read the consumers' head
	// line only when it says the ring may be full.
	headSeen atomic.Uint64
}

type rcqbSlot struct {
	word, item *uint64
	index      int // for error messages
}

func init() {
	Register(Design{Name: "rcqb", Shared: true, Size: rcqbSize, New: newRCQB})
}

func rcqbSize(cfg Config) int {
	c, err := ringCapacity(cfg)
	if err != nil {
		return 0
	}
	return RCQBOffSlots + int(c)*RCQBSlotBytes
}

func newRCQB(mem []byte, cfg Config, init bool) (Queue, error) {
	if err := checkWait(cfg); err != nil {
		return nil, err
	}
	r := shm.NewRegion(mem)
	var capacity uint64
	if init {
		c, err := ringCapacity(cfg)
		if err != nil {
			return nil, err
		}
		capacity = c
		if need := rcqbSize(cfg); len(mem) < need {
			return nil, fmt.Errorf("queue: rcqb needs %d bytes of memory, got %d", need, len(mem))
		}
		clear(mem[:rcqbSize(cfg)])
		r.PutUint64At(RCQBOffCap, capacity)
	} else {
		magic, err := r.LoadUint64(0)
		if err != nil {
			return nil, fmt.Errorf("queue: rcqb attach: %w", err)
		}
		if magic != RCQBMagic {
			return nil, fmt.Errorf("%w: rcqb attach: bad magic %#x", ErrCorrupt, magic)
		}
		capacity, _ = r.Uint64At(RCQBOffCap)
		if capacity < 2 || capacity > maxCapacity || capacity&(capacity-1) != 0 ||
			uint64(len(mem)) < RCQBOffSlots+capacity*RCQBSlotBytes {
			return nil, fmt.Errorf("%w: rcqb attach: capacity %d does not fit %d bytes", ErrCorrupt, capacity, len(mem))
		}
	}
	q := &rcqb{cfg: cfg, mem: mem, mask: capacity - 1, slots: make([]rcqbSlot, capacity)}
	for capacity>>(q.shift+1) != 0 {
		q.shift++
	}
	var err error
	if q.magic, err = r.Uint64Ptr(0); err != nil {
		return nil, err
	}
	if q.capacity, err = r.Uint64Ptr(RCQBOffCap); err != nil {
		return nil, err
	}
	if q.flags, err = r.Uint32Ptr(RCQBOffFlags); err != nil {
		return nil, err
	}
	if q.tail, err = r.Uint64Ptr(RCQBOffTail); err != nil {
		return nil, err
	}
	if q.head, err = r.Uint64Ptr(RCQBOffHead); err != nil {
		return nil, err
	}
	for i := range q.slots {
		off := uint64(RCQBOffSlots + i*RCQBSlotBytes)
		q.slots[i].index = i
		if q.slots[i].word, err = r.Uint64Ptr(off); err != nil {
			return nil, err
		}
		if q.slots[i].item, err = r.Uint64Ptr(off + 8); err != nil {
			return nil, err
		}
	}
	if init {
		atomic.StoreUint64(q.magic, RCQBMagic) // publish last
	}
	return q, nil
}

func slotState(w uint64) uint64 { return (w & RCQBStateMask) >> RCQBStateShift }
func slotRound(w uint64) uint64 { return (w >> RCQBRoundShift) & RCQBRoundMask }
func eGone(w uint64) uint64     { return (w >> RCQBEGoneShift) & RCQBGoneMask }
func dGone(w uint64) uint64     { return (w >> RCQBDGoneShift) & RCQBGoneMask }

// advance hands a slot to its next round: empty, gone masks shifted, no
// waiters; rounds whose enqueuer and dequeuer both gave up are skipped.
func advance(w uint64) uint64 {
	r, e, d := slotRound(w), eGone(w), dGone(w)
	for {
		r, e, d = (r+1)&RCQBRoundMask, e>>1, d>>1
		if e&1 == 0 || d&1 == 0 {
			return r<<RCQBRoundShift | d<<RCQBDGoneShift | e<<RCQBEGoneShift
		}
	}
}

func (q *rcqb) ticket(t uint64) (*rcqbSlot, uint64) {
	return &q.slots[t&q.mask], (t >> q.shift) & RCQBRoundMask
}

// maxTicketLag bounds how many rounds the slot of a new ticket may be behind
// it when an operation with a timeout takes one. Abandoned tickets are
// recorded in RCQBGoneBits-wide masks; without this bound, a slot whose party is
// descheduled mid-operation lets the others lap the ring (each lap timing
// out and abandoning one more round of that slot) until the mask overflows
// and the queue breaks. Half the mask leaves room for threads racing past
// the check together (ceil(threads / capacity) rounds).
const maxTicketLag = RCQBGoneBits / 2

// slotLagging reports whether ticket t's slot is maxTicketLag or more
// rounds behind t (a corrupt word is left to the operation to report).
func (q *rcqb) slotLagging(t uint64) bool {
	s, r := q.ticket(t)
	l, err := q.lag(s, r, atomic.LoadUint64(s.word))
	return err == nil && l >= maxTicketLag
}

// lag is how many rounds the slot is behind round r.
func (q *rcqb) lag(s *rcqbSlot, r, w uint64) (uint64, error) {
	l := (r - slotRound(w)) & RCQBRoundMask
	if l >= RCQBRoundHalf {
		return 0, q.corrupt(s, w, "slot is ahead of the ticket's round")
	}
	return l, nil
}

func (q *rcqb) corrupt(s *rcqbSlot, w uint64, why string) error {
	return fmt.Errorf("%w: rcqb slot %d word %#x: %s", ErrCorrupt, s.index, w, why)
}

func (q *rcqb) wake(s *rcqbSlot, old uint64) {
	if old&RCQBSlotWaiters != 0 {
		shm.FutexWake(shm.LowHalf(s.word), 0)
	}
}

func (q *rcqb) flagErr(f uint32) error {
	if f&RCQBFlagBroken != 0 {
		return fmt.Errorf("%w: rcqb marked broken (an abandoned ticket could not be recorded)", ErrCorrupt)
	}
	return ErrClosed
}

// sleep publishes the waiter flag on a slot word seen as w and sleeps on it.
func (q *rcqb) sleep(ws *waitState, s *rcqbSlot, w uint64) error {
	if w&RCQBSlotWaiters == 0 {
		if !atomic.CompareAndSwapUint64(s.word, w, w|RCQBSlotWaiters) {
			return nil
		}
		w |= RCQBSlotWaiters
	}
	if atomic.LoadUint32(q.flags) != 0 {
		return nil
	}
	return ws.futexSleep(shm.LowHalf(s.word), uint32(w))
}

// errProceed: abandon found the slot at the ticket's own round in a state
// the operation can complete without waiting; it should do so.
var errProceed = fmt.Errorf("queue: rcqb proceed")

// skipped reports whether the slot word w is past round r: a dequeuer gave
// up on round r while its enqueuer had not come (see abandon), so the
// enqueuer holding r must take a new ticket.
func skipped(r, w uint64) bool { return (r-slotRound(w))&RCQBRoundMask >= RCQBRoundHalf }

// abandon records that the enqueuer (goneShift = RCQBEGoneShift) or dequeuer
// (RCQBDGoneShift) holding round r of slot s gives up. A dequeuer giving up on
// its own round of an empty slot skips the round instead of waiting for
// the enqueuer to pass it on: an enqueuer killed between its ticket and
// its fill would otherwise leave the slot stuck for good. The enqueuer, if
// it was only slow, finds its round skipped before it stores anything
// (its fill starts with a CAS from empty at its round) and re-enqueues.
func (q *rcqb) abandon(s *rcqbSlot, r uint64, goneShift uint) error {
	for {
		w := atomic.LoadUint64(s.word)
		if goneShift == RCQBEGoneShift && skipped(r, w) {
			return nil // nothing to record: the round is gone already
		}
		lag, err := q.lag(s, r, w)
		if err != nil {
			return err
		}
		if lag == 0 {
			if goneShift == RCQBEGoneShift || slotState(w) == RCQBStateFull || eGone(w)&1 != 0 {
				return errProceed // can complete (or skip) at once
			}
			if slotState(w) == RCQBStateInvalid {
				return q.corrupt(s, w, "invalid slot state")
			}
			if slotState(w) == RCQBStateEmpty {
				if atomic.CompareAndSwapUint64(s.word, w, advance(w|1<<RCQBEGoneShift|1<<RCQBDGoneShift)) {
					q.wake(s, w)
					return nil
				}
				continue
			}
		}
		if lag >= RCQBGoneBits {
			atomic.OrUint32(q.flags, RCQBFlagBroken)
			return fmt.Errorf("%w: rcqb ticket abandoned %d rounds ahead of its slot", ErrCorrupt, lag)
		}
		if atomic.CompareAndSwapUint64(s.word, w, w|1<<(goneShift+uint(lag))) {
			return nil
		}
	}
}

func (q *rcqb) Enqueue(v uint64) error { return q.enqueue(v, nil) }

// EnqueueLazy implements LazyEnqueuer: Enqueue, except that the wake-up of
// a dequeuer asleep on the filled slot is returned to the caller instead of
// issued. Wake-ups of other parties (a round passed on) are issued at once.
func (q *rcqb) EnqueueLazy(v uint64) (Wake, error) {
	var owed Wake
	err := q.enqueue(v, &owed)
	return owed, err
}

// enqueue is Enqueue; owe != nil receives the wake-up the fill owes (put).
func (q *rcqb) enqueue(v uint64, owe *Wake) error {
	ws := newWaitState(&q.cfg)
	for {
		if f := atomic.LoadUint32(q.flags); f != 0 {
			return q.flagErr(f)
		}
		if q.cfg.Timeout > 0 {
			if err := q.awaitRoom(&ws); err != nil {
				return err
			}
			if f := atomic.LoadUint32(q.flags); f != 0 {
				return q.flagErr(f)
			}
		}
		t := atomic.AddUint64(q.tail, 1) - 1
		done, err := q.put(t, v, &ws, owe)
		if done || err != nil {
			return err
		}
	}
}

// awaitItems waits, before taking a ticket, until the queue holds an item
// (tail > head) or the queue is closed. Operations with a timeout use it so
// that dequeuers timing out on an empty queue do not pile up abandoned
// tickets ahead of tail. It sleeps on the slot of ticket head, which the
// enqueuer of that ticket writes.
func (q *rcqb) awaitItems(ws *waitState) error {
	for {
		h := atomic.LoadUint64(q.head)
		if (int64(atomic.LoadUint64(q.tail)-h) > 0 && !q.slotLagging(h)) || atomic.LoadUint32(q.flags) != 0 {
			return nil
		}
		if ws.expired() {
			return ErrTimeout
		}
		if ws.spin() {
			continue
		}
		s, _ := q.ticket(h)
		w := atomic.LoadUint64(s.word)
		if (int64(atomic.LoadUint64(q.tail)-h) > 0 && !q.slotLagging(h)) || atomic.LoadUint64(q.head) != h {
			continue // changed after we read the word: re-evaluate
		}
		if err := q.sleep(ws, s, w); err != nil {
			return err
		}
	}
}

// awaitRoom is awaitItems for enqueuers: it waits until tail - head <
// capacity, sleeping on the slot of ticket tail, which the dequeuer of the
// previous round frees.
func (q *rcqb) awaitRoom(ws *waitState) error {
	for {
		t := atomic.LoadUint64(q.tail)
		if int64(t-q.headSeen.Load()) <= int64(q.mask) && !q.slotLagging(t) {
			return nil
		}
		h := atomic.LoadUint64(q.head)
		q.headSeen.Store(h) // racing stores may keep an older head: still a lower bound
		if (int64(t-h) <= int64(q.mask) && !q.slotLagging(t)) || atomic.LoadUint32(q.flags) != 0 {
			return nil
		}
		if ws.expired() {
			return ErrTimeout
		}
		if ws.spin() {
			continue
		}
		s, _ := q.ticket(t)
		w := atomic.LoadUint64(s.word)
		if (int64(t-atomic.LoadUint64(q.head)) <= int64(q.mask) && !q.slotLagging(t)) || atomic.LoadUint64(q.tail) != t {
			continue
		}
		if err := q.sleep(ws, s, w); err != nil {
			return err
		}
	}
}

// put completes the enqueue of ticket t. It reports false (and no error)
// when the ticket's dequeuer gave up: the round was passed on or skipped
// and the caller must take a new ticket. ws == nil: the caller saw the
// slot at t's round and nothing may wait. owe != nil: the wake-up of a
// dequeuer asleep on the filled slot is left in *owe, not issued.
func (q *rcqb) put(t, v uint64, ws *waitState, owe *Wake) (bool, error) {
	s, r := q.ticket(t)
	for {
		w := atomic.LoadUint64(s.word)
		if skipped(r, w) {
			return false, nil
		}
		lag, err := q.lag(s, r, w)
		if err != nil {
			return false, err
		}
		if lag == 0 {
			if slotState(w) != RCQBStateEmpty || eGone(w)&1 != 0 {
				return false, q.corrupt(s, w, "enqueuer's own round is not empty")
			}
			if dGone(w)&1 != 0 { // our dequeuer gave up: pass the round on
				if atomic.CompareAndSwapUint64(s.word, w, advance(w)) {
					q.wake(s, w)
					return false, nil
				}
				continue
			}
			if !atomic.CompareAndSwapUint64(s.word, w, w&^RCQBStateMask|RCQBStateFilling<<RCQBStateShift) {
				continue
			}
			atomic.StoreUint64(s.item, v)
			for {
				w = atomic.LoadUint64(s.word)
				gone := dGone(w)&1 != 0 // the dequeuer gave up while we filled
				nw := w&^(RCQBStateMask|RCQBSlotWaiters) | RCQBStateFull<<RCQBStateShift
				if gone {
					nw = advance(w)
				}
				if atomic.CompareAndSwapUint64(s.word, w, nw) {
					if owe != nil && !gone && w&RCQBSlotWaiters != 0 {
						*owe = Wake{word: shm.LowHalf(s.word)}
					} else {
						q.wake(s, w)
					}
					return !gone, nil
				}
			}
		}
		if ws == nil {
			return false, q.corrupt(s, w, "slot behind the round the enqueuer saw")
		}
		var giveUp error
		if f := atomic.LoadUint32(q.flags); f != 0 {
			giveUp = q.flagErr(f)
		} else if ws.expired() {
			giveUp = ErrTimeout
		}
		if giveUp != nil {
			switch err := q.abandon(s, r, RCQBEGoneShift); err {
			case nil:
				return false, giveUp
			case errProceed:
				continue
			default:
				return false, err
			}
		}
		if ws.spin() {
			continue
		}
		if err := q.sleep(ws, s, w); err != nil {
			return false, err
		}
	}
}

func (q *rcqb) Dequeue() (uint64, error) {
	ws := newWaitState(&q.cfg)
	for {
		f := atomic.LoadUint32(q.flags)
		if f&RCQBFlagBroken != 0 {
			return 0, q.flagErr(f)
		}
		if f&RCQBFlagClosed != 0 && int64(atomic.LoadUint64(q.tail)-atomic.LoadUint64(q.head)) <= 0 {
			return 0, ErrClosed
		}
		if !ws.deadline.IsZero() && ws.expired() { // after passing on a round
			return 0, ErrTimeout
		}
		if q.cfg.Timeout > 0 && f == 0 {
			if err := q.awaitItems(&ws); err != nil {
				return 0, err
			}
			if atomic.LoadUint32(q.flags) != 0 {
				continue
			}
		}
		h := atomic.AddUint64(q.head, 1) - 1
		// The ticket's enqueuer gets a whole Timeout to fill the slot
		// before take gives up and skips the round, however long the
		// wait for an item took.
		ws.deadline = time.Time{}
		v, done, err := q.take(h, &ws)
		if done || err != nil {
			return v, err
		}
	}
}

// take completes the dequeue of ticket h; false (and no error) means its
// enqueuer gave up and the caller must take a new ticket. ws == nil: the
// slot is known to be full at h's round.
func (q *rcqb) take(h uint64, ws *waitState) (uint64, bool, error) {
	s, r := q.ticket(h)
	for {
		w := atomic.LoadUint64(s.word)
		lag, err := q.lag(s, r, w)
		if err != nil {
			return 0, false, err
		}
		if lag == 0 {
			switch slotState(w) {
			case RCQBStateFull:
				// Full at our round, the slot is ours alone: nobody else
				// moves it on or writes the item, so take the item and
				// hand the round on with one CAS (others may only add
				// waiter or gone bits meanwhile: then retry).
				v := atomic.LoadUint64(s.item)
				if q.cfg.OnItem != nil {
					q.cfg.OnItem(v)
				}
				if !atomic.CompareAndSwapUint64(s.word, w, advance(w)) {
					continue
				}
				q.wake(s, w)
				return v, true, nil
			case RCQBStateEmpty:
				if eGone(w)&1 != 0 { // our enqueuer gave up: pass the round on
					if atomic.CompareAndSwapUint64(s.word, w, advance(w)) {
						q.wake(s, w)
						return 0, false, nil
					}
					continue
				}
			case RCQBStateInvalid:
				return 0, false, q.corrupt(s, w, "invalid slot state")
			}
		}
		if ws == nil {
			return 0, false, q.corrupt(s, w, "slot not full at the dequeuer's round")
		}
		var giveUp error
		if f := atomic.LoadUint32(q.flags); f&RCQBFlagBroken != 0 {
			giveUp = q.flagErr(f)
		} else if f&RCQBFlagClosed != 0 && int64(atomic.LoadUint64(q.tail)-h) <= 0 {
			giveUp = ErrClosed // no enqueuer holds our ticket, none will come
		} else if ws.expired() {
			giveUp = ErrTimeout
		}
		if giveUp != nil {
			switch err := q.abandon(s, r, RCQBDGoneShift); err {
			case nil:
				return 0, false, giveUp
			case errProceed:
				continue
			default:
				return 0, false, err
			}
		}
		if ws.spin() {
			continue
		}
		if err := q.sleep(ws, s, w); err != nil {
			return 0, false, err
		}
	}
}

// TryEnqueue claims tail with CAS only after seeing its slot empty at its
// round, so it never advances tail for an operation it cannot complete.
func (q *rcqb) TryEnqueue(v uint64) error {
	for {
		if f := atomic.LoadUint32(q.flags); f != 0 {
			return q.flagErr(f)
		}
		t := atomic.LoadUint64(q.tail)
		s, r := q.ticket(t)
		w := atomic.LoadUint64(s.word)
		lag, err := q.lag(s, r, w)
		if err != nil {
			if atomic.LoadUint64(q.tail) != t {
				continue // t went stale while we looked: the slot moved on
			}
			return err
		}
		if lag != 0 {
			return ErrFull
		}
		if slotState(w) != RCQBStateEmpty || eGone(w)&1 != 0 {
			if atomic.LoadUint64(q.tail) != t {
				continue // someone took the ticket meanwhile
			}
			return q.corrupt(s, w, "unclaimed round is not empty")
		}
		if !atomic.CompareAndSwapUint64(q.tail, t, t+1) {
			continue
		}
		done, err := q.put(t, v, nil, nil)
		if done || err != nil {
			return err
		}
	}
}

// TryDequeue claims head with CAS only after seeing its slot full at its
// round (or abandoned by its enqueuer, which it then passes on).
func (q *rcqb) TryDequeue() (uint64, error) {
	for {
		f := atomic.LoadUint32(q.flags)
		if f&RCQBFlagBroken != 0 {
			return 0, q.flagErr(f)
		}
		h := atomic.LoadUint64(q.head)
		s, r := q.ticket(h)
		w := atomic.LoadUint64(s.word)
		lag, err := q.lag(s, r, w)
		if err != nil {
			if atomic.LoadUint64(q.head) != h {
				continue // h went stale while we looked
			}
			return 0, err
		}
		ready := lag == 0 && (slotState(w) == RCQBStateFull || slotState(w) == RCQBStateEmpty && eGone(w)&1 != 0)
		if !ready {
			if f&RCQBFlagClosed != 0 {
				return 0, ErrClosed
			}
			return 0, ErrEmpty
		}
		if !atomic.CompareAndSwapUint64(q.head, h, h+1) {
			continue
		}
		v, done, err := q.take(h, nil)
		if done || err != nil {
			return v, err
		}
	}
}

// PrefetchEnqueue implements EnqueuePrefetcher: it starts fetching, for
// writing, the slot of the ticket the next enqueue is likely to take.
func (q *rcqb) PrefetchEnqueue() {
	s, _ := q.ticket(atomic.LoadUint64(q.tail))
	shm.PrefetchW(s.word)
}

// Backlog implements Backlogger: tickets taken by enqueuers and not yet by
// dequeuers, clamped to [0, capacity].
func (q *rcqb) Backlog() int {
	return clampBacklog(atomic.LoadUint64(q.tail), atomic.LoadUint64(q.head), q.mask+1)
}

// Close sets the closed flag, then clears every slot's waiter flag and wakes
// its sleepers; a sleeper that published its flag before it saw the closed
// flag is either woken or finds the word changed.
func (q *rcqb) Close() error {
	atomic.OrUint32(q.flags, RCQBFlagClosed)
	q.wakeAll()
	return nil
}

// wakeAll clears every slot's waiter flag and wakes its sleepers (after a
// flag change every waiter must see).
func (q *rcqb) wakeAll() {
	for i := range q.slots {
		s := &q.slots[i]
		for {
			w := atomic.LoadUint64(s.word)
			if w&RCQBSlotWaiters == 0 {
				break
			}
			if atomic.CompareAndSwapUint64(s.word, w, w&^RCQBSlotWaiters) {
				q.wake(s, w)
				break
			}
		}
	}
}
