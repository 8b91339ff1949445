/*
 * rcqb.c: the enqueue side of the RCQB request queue, a port of put(),
 * abandon() and the wait loop of ipc/queue/rcqb.go and wait.go with the
 * same byte layout (generated from ipc/queue/rcqb_layout.go into
 * polytropon_wire.h) and the same atomics (sequentially consistent,
 * as Go's sync/atomic) and futex protocol (shared, not FUTEX_PRIVATE: the
 * waiter and the waker are different processes).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <sched.h>
#include <stdint.h>

#include "rcqb.h"
#include "sys.h"

#define HIDDEN __attribute__((visibility("hidden")))

#define LOAD64(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define LOAD32(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define CAS64(p, old, new) \
	__atomic_compare_exchange_n((p), &(uint64_t){(old)}, (new), 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)

static inline uint64_t slot_state(uint64_t w) { return (w & RCQB_STATE_MASK) >> RCQB_STATE_SHIFT; }
static inline uint64_t slot_round(uint64_t w) { return (w >> RCQB_ROUND_SHIFT) & RCQB_ROUND_MASK; }
static inline uint64_t egone(uint64_t w) { return (w >> RCQB_EGONE_SHIFT) & RCQB_GONE_MASK; }
static inline uint64_t dgone(uint64_t w) { return (w >> RCQB_DGONE_SHIFT) & RCQB_GONE_MASK; }

/* advance hands a slot to its next round (see rcqb.go). */
static uint64_t advance(uint64_t w)
{
	uint64_t r = slot_round(w), e = egone(w), d = dgone(w);
	for (;;) {
		r = (r + 1) & RCQB_ROUND_MASK;
		e >>= 1;
		d >>= 1;
		if ((e & 1) == 0 || (d & 1) == 0)
			return r << RCQB_ROUND_SHIFT | d << RCQB_DGONE_SHIFT | e << RCQB_EGONE_SHIFT;
	}
}

struct waitst {
	uint32_t wait;   /* 0 spin, 1 spin-futex, 2 futex */
	uint32_t budget; /* spins before sleeping */
	uint32_t spins;
	int64_t timeout; /* ns, <= 0: none */
	uint64_t deadline;
};

static int expired(struct waitst *ws)
{
	if (ws->timeout <= 0)
		return 0;
	uint64_t now = poly_now();
	if (ws->deadline == 0) {
		ws->deadline = now + (uint64_t)ws->timeout;
		return 0;
	}
	return now > ws->deadline;
}

static int spin(struct waitst *ws)
{
	if (ws->wait == 0 || (ws->wait == 1 && ws->spins < ws->budget)) {
		ws->spins++;
		if (ws->spins % 8 == 0)
			sched_yield();
		else
			for (int i = 0; i < 16; i++)
				__builtin_ia32_pause();
		return 1;
	}
	return 0;
}

static inline uint32_t *low_half(uint64_t *w) { return (uint32_t *)w; } /* little endian */

static void wake(uint64_t *word, uint64_t old)
{
	if (old & RCQB_WAITERS)
		poly_futex_wake(low_half(word));
}

/* rsleep publishes the waiter flag on a slot word seen as w and sleeps. */
static void rsleep(struct waitst *ws, uint32_t *flags, uint64_t *word, uint64_t w)
{
	if (!(w & RCQB_WAITERS)) {
		if (!CAS64(word, w, w | RCQB_WAITERS))
			return;
		w |= RCQB_WAITERS;
	}
	if (LOAD32(flags) != 0)
		return;
	int64_t rem = 0;
	if (ws->timeout > 0) {
		uint64_t now = poly_now();
		if (now >= ws->deadline)
			return;
		rem = (int64_t)(ws->deadline - now);
	}
	poly_futex_wait(low_half(word), (uint32_t)w, rem);
}

/* skipped: the slot is past round r (a dequeuer gave up on the round
 * before its enqueuer came, see abandon in rcqb.go): take a new ticket. */
static inline int skipped(uint64_t r, uint64_t w) { return ((r - slot_round(w)) & RCQB_ROUND_MASK) >= RCQB_ROUND_HALF; }

/* abandon_enq records that the enqueuer of round r of the slot gives up:
 * 0 recorded (or nothing to record: the round was skipped), 1 proceed (the
 * slot is at our round), < 0 error. */
static int abandon_enq(uint32_t *flags, uint64_t *word, uint64_t r)
{
	for (;;) {
		uint64_t w = LOAD64(word);
		if (skipped(r, w))
			return 0;
		uint64_t lag = (r - slot_round(w)) & RCQB_ROUND_MASK;
		if (lag >= RCQB_ROUND_HALF)
			return RCQB_ERR_CORRUPT;
		if (lag == 0)
			return 1;
		if (lag >= RCQB_GONE_BITS) {
			__atomic_fetch_or(flags, RCQB_FLAG_BROKEN, __ATOMIC_SEQ_CST);
			return RCQB_ERR_CORRUPT;
		}
		if (CAS64(word, w, w | 1ull << (RCQB_EGONE_SHIFT + lag)))
			return 0;
	}
}

/* put completes ticket t: 1 done, 0 the round was passed on or skipped
 * (take a new ticket), < 0 error. */
static int put(uint8_t *mem, uint64_t mask, unsigned shift, uint32_t *flags, uint64_t t, uint64_t v,
	       struct waitst *ws)
{
	uint8_t *slot = mem + RCQB_OFF_SLOTS + (t & mask) * RCQB_SLOT_BYTES;
	uint64_t *word = (uint64_t *)slot, *item = (uint64_t *)(slot + 8);
	uint64_t r = (t >> shift) & RCQB_ROUND_MASK;
	for (;;) {
		uint64_t w = LOAD64(word);
		if (skipped(r, w))
			return 0;
		uint64_t lag = (r - slot_round(w)) & RCQB_ROUND_MASK;
		if (lag == 0) {
			if (slot_state(w) != RCQB_ST_EMPTY || (egone(w) & 1))
				return RCQB_ERR_CORRUPT;
			if (dgone(w) & 1) { /* our dequeuer gave up: pass the round on */
				if (CAS64(word, w, advance(w))) {
					wake(word, w);
					return 0;
				}
				continue;
			}
			if (!CAS64(word, w, (w & ~RCQB_STATE_MASK) | RCQB_ST_FILLING << RCQB_STATE_SHIFT))
				continue;
			__atomic_store_n(item, v, __ATOMIC_SEQ_CST);
			for (;;) {
				w = LOAD64(word);
				int gone = (dgone(w) & 1) != 0;
				uint64_t nw = (w & ~(RCQB_STATE_MASK | RCQB_WAITERS)) | RCQB_ST_FULL << RCQB_STATE_SHIFT;
				if (gone)
					nw = advance(w);
				if (CAS64(word, w, nw)) {
					wake(word, w);
					return !gone;
				}
			}
		}
		int give_up = 0;
		uint32_t f = LOAD32(flags);
		if (f != 0)
			give_up = (f & RCQB_FLAG_BROKEN) ? RCQB_ERR_CORRUPT : RCQB_ERR_CLOSED;
		else if (expired(ws))
			give_up = RCQB_ERR_TIMEOUT;
		if (give_up) {
			int a = abandon_enq(flags, word, r);
			if (a == 0)
				return give_up;
			if (a == 1)
				continue;
			return a;
		}
		if (spin(ws))
			continue;
		rsleep(ws, flags, word, w);
	}
}

/* ring_ok validates the header of the queue in mem (membytes long) and
 * returns its capacity, or 0. */
static uint64_t ring_ok(uint8_t *mem, uint64_t membytes)
{
	if (membytes < RCQB_OFF_SLOTS || LOAD64((uint64_t *)mem) != RCQB_MAGIC)
		return 0;
	uint64_t cap = *(uint64_t *)(mem + RCQB_OFF_CAP);
	if (cap < 2 || cap > RCQB_MAX_CAPACITY || (cap & (cap - 1)) != 0 ||
	    membytes < RCQB_OFF_SLOTS + cap * RCQB_SLOT_BYTES)
		return 0;
	return cap;
}

/* rcqb_prefetch_enqueue starts fetching, for writing, the slot the next
 * enqueue will probably take (ipc/queue's PrefetchEnqueue): called before
 * the request descriptor is written, the slot's cross-core transfer then
 * overlaps those writes. A hint; it changes nothing. */
HIDDEN void rcqb_prefetch_enqueue(uint8_t *mem, uint64_t membytes)
{
	uint64_t cap = ring_ok(mem, membytes);
	if (cap == 0)
		return;
	uint64_t t = LOAD64((uint64_t *)(mem + RCQB_OFF_TAIL));
	uint8_t *slot = mem + RCQB_OFF_SLOTS + (t & (cap - 1)) * RCQB_SLOT_BYTES;
#if defined(__x86_64__)
	__asm__ volatile("prefetchw %0" : : "m"(*slot));
#else
	__builtin_prefetch(slot, 1);
#endif
}

/* rcqb_enqueue adds item to the queue in mem (membytes long): RCQB_OK, or
 * RCQB_ERR_TIMEOUT (the item was not enqueued), RCQB_ERR_CLOSED,
 * RCQB_ERR_CORRUPT. Nothing read from mem is trusted: the capacity is
 * checked against membytes once per call. */
HIDDEN int rcqb_enqueue(uint8_t *mem, uint64_t membytes, uint64_t item, uint32_t wait, uint32_t spin_budget,
			int64_t timeout_ns)
{
	uint64_t cap = ring_ok(mem, membytes);
	if (cap == 0)
		return RCQB_ERR_CORRUPT;
	unsigned shift = 0;
	while (cap >> (shift + 1))
		shift++;
	uint32_t *flags = (uint32_t *)(mem + RCQB_OFF_FLAGS);
	uint64_t *tail = (uint64_t *)(mem + RCQB_OFF_TAIL);
	struct waitst ws = {.wait = wait, .budget = spin_budget ? spin_budget : RCQB_DEFAULT_SPIN_BUDGET,
			    .timeout = timeout_ns};
	if (wait > 2)
		ws.wait = 1;
	for (;;) {
		uint32_t f = LOAD32(flags);
		if (f != 0)
			return (f & RCQB_FLAG_BROKEN) ? RCQB_ERR_CORRUPT : RCQB_ERR_CLOSED;
		uint64_t t = __atomic_fetch_add(tail, 1, __ATOMIC_SEQ_CST);
		int r = put(mem, cap - 1, shift, flags, t, item, &ws);
		if (r == 1)
			return RCQB_OK;
		if (r < 0)
			return r;
	}
}
