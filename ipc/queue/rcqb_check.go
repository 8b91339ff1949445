package queue

import (
	"fmt"
	"sync/atomic"
)

// rcqbMaxSpread bounds, in tickets, how far apart head and tail may be:
// legitimately tail leads by at most a capacity plus the enqueuers racing
// past the room check, and head leads tail by the dequeuers waiting with a
// ticket; abandoned rounds are recorded at most RCQBGoneBits ahead.
func (q *rcqb) maxSpread() uint64 { return (q.mask + 1) * RCQBGoneBits }

// Check implements Checker: the magic and capacity words, no unknown or
// broken flag, head and tail within rcqbMaxSpread of each other, and
// every slot word with a valid state at a round within RCQBGoneBits of
// the round head gives that slot (a slot lags by the rounds its parties
// still work on and leads by at most the rounds skipped ahead).
func (q *rcqb) Check() error {
	if m := atomic.LoadUint64(q.magic); m != RCQBMagic {
		return fmt.Errorf("%w: rcqb magic %#x, want %#x", ErrCorrupt, m, uint64(RCQBMagic))
	}
	if c := atomic.LoadUint64(q.capacity); c != q.mask+1 {
		return fmt.Errorf("%w: rcqb capacity word %d, want %d", ErrCorrupt, c, q.mask+1)
	}
	if f := atomic.LoadUint32(q.flags); f&^RCQBFlagClosed != 0 {
		return fmt.Errorf("%w: rcqb flags %#x", ErrCorrupt, f)
	}
	h, t := atomic.LoadUint64(q.head), atomic.LoadUint64(q.tail)
	if d := t - h; d > q.maxSpread() && -d > q.maxSpread() {
		return fmt.Errorf("%w: rcqb tail %d and head %d are %d tickets apart (at most %d)", ErrCorrupt, t, h, int64(d), q.maxSpread())
	}
	// The slots are read after head: a checker descheduled meanwhile (a
	// loaded host) sees slots that live dequeuers moved many rounds past
	// the head it read. A slot is far off only against a head that did not
	// move while it was read; a head that keeps moving is a queue in use,
	// whose dequeuers find a truly wrong slot word themselves (lag).
	for range 3 {
		if checkPause != nil {
			checkPause(q)
		}
		err, far := q.checkSlots(h)
		if err == nil || !far {
			return err
		}
		h2 := atomic.LoadUint64(q.head)
		if h2 == h {
			return err
		}
		h = h2
	}
	return nil
}

// checkPause, set by tests, runs between Check's read of head and its
// reads of the slots (where a loaded host deschedules the checker).
var checkPause func(*rcqb)

// checkSlots is Check's test of every slot word against head h; far says
// the error is a slot's round far from h's.
func (q *rcqb) checkSlots(h uint64) (err error, far bool) {
	for i := range q.slots {
		s := &q.slots[i]
		w := atomic.LoadUint64(s.word)
		if slotState(w) == RCQBStateInvalid {
			return q.corrupt(s, w, "invalid slot state"), false
		}
		// The first ticket at or after head that maps to this slot.
		ht := h + (uint64(i)-h)&q.mask
		r := (ht >> q.shift) & RCQBRoundMask
		if d := (r - slotRound(w)) & RCQBRoundMask; d > RCQBGoneBits && RCQBRoundMask+1-d > RCQBGoneBits {
			return q.corrupt(s, w, fmt.Sprintf("slot round %d is far from round %d of head %d", slotRound(w), r, h)), true
		}
	}
	return nil, false
}

// Closed reports whether the queue's closed flag is set (by Close, or by
// anyone who can write the shared memory).
func (q *rcqb) Closed() bool { return atomic.LoadUint32(q.flags)&RCQBFlagClosed != 0 }

// Stall implements Checker. It names the first of two states that last
// only microseconds when every party is legitimate: a dequeuer holding
// ticket head-1 whose slot is still empty at that round while later
// tickets were taken (its enqueuer never filled it: a tail moved by
// someone else, or an enqueuer killed mid-operation), and an item full in
// a slot at a ticket behind head that no dequeuer holds any more (a head
// moved by someone else). ok is false when neither holds.
func (q *rcqb) Stall() (key uint64, why string, ok bool) {
	h, t := atomic.LoadUint64(q.head), atomic.LoadUint64(q.tail)
	if h > 0 && int64(t-h) > 0 {
		s, r := q.ticket(h - 1)
		w := atomic.LoadUint64(s.word)
		if slotRound(w) == r && slotState(w) == RCQBStateEmpty && eGone(w)&1 == 0 && atomic.LoadUint64(q.head) == h {
			return h - 1, fmt.Sprintf("ticket %d's slot stays empty (tail %d)", h-1, t), true
		}
	}
	hr := (h >> q.shift) & RCQBRoundMask
	for i := range q.slots {
		s := &q.slots[i]
		w := atomic.LoadUint64(s.word)
		if slotState(w) != RCQBStateFull {
			continue
		}
		// The slot's ticket relative to head: rounds behind head's, or the
		// same round at an index below head's.
		behind := (hr - slotRound(w)) & RCQBRoundMask
		if behind < RCQBRoundHalf && (behind >= 1 || uint64(i) < h&q.mask) {
			tk := uint64(slotRound(w))<<q.shift | uint64(i)
			return tk | 1<<63, fmt.Sprintf("slot %d holds an item at a ticket behind head %d", i, h), true
		}
	}
	return 0, "", false
}

// Break implements Checker: the broken flag makes every operation, also
// one waiting now, fail with ErrCorrupt at once.
func (q *rcqb) Break() {
	atomic.OrUint32(q.flags, RCQBFlagBroken)
	q.wakeAll()
}
