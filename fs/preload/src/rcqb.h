/*
 * rcqb.h: the memory layout of the RCQB request queue (Go: ipc/queue/rcqb.go),
 * which polytropon_wire.h does not describe. Byte offsets inside one queue's
 * memory (after its poly_queue_stats line), native endian:
 *
 *	0    magic u64, 8 capacity u64, 16 flags u32 (closed 1, broken 2)
 *	64   tail u64 (own cache line)
 *	128  head u64 (own cache line)
 *	192  capacity slots of 64 bytes: +0 slot word u64, +8 item u64
 *
 * Slot word, from bit 0: waiters (1), state (2: empty, filling, full;
 * 3 is never stored), round (25), enqueuer-gone mask (18), dequeuer-gone
 * mask (18). A slot past an enqueuer's round means a dequeuer skipped the
 * round: the enqueuer takes a new ticket.
 * Its low 32 bits are the futex word. The Go test TestRCQBInterop checks
 * these values against the Go implementation end to end.
 */
#ifndef POLY_RCQB_H
#define POLY_RCQB_H

#include <stdint.h>

#define RCQB_MAGIC 0x5243514231000002ULL /* "RCQB1" + protocol version (2: skipped rounds) */
#define RCQB_OFF_CAP 8
#define RCQB_OFF_FLAGS 16
#define RCQB_OFF_TAIL 64
#define RCQB_OFF_HEAD 128
#define RCQB_OFF_SLOTS 192
#define RCQB_SLOT_BYTES 64
#define RCQB_MAX_CAPACITY (1u << 20)

#define RCQB_FLAG_CLOSED 1u
#define RCQB_FLAG_BROKEN 2u

#define RCQB_WAITERS 1ull
#define RCQB_STATE_SHIFT 1
#define RCQB_STATE_MASK (3ull << RCQB_STATE_SHIFT)
#define RCQB_ST_EMPTY 0ull
#define RCQB_ST_FILLING 1ull
#define RCQB_ST_FULL 2ull
#define RCQB_ST_INVALID 3ull /* no party sets it */
#define RCQB_ROUND_SHIFT 3
#define RCQB_ROUND_BITS 25
#define RCQB_ROUND_MASK ((1ull << RCQB_ROUND_BITS) - 1)
#define RCQB_ROUND_HALF (1ull << (RCQB_ROUND_BITS - 1))
#define RCQB_GONE_BITS 18
#define RCQB_GONE_MASK ((1ull << RCQB_GONE_BITS) - 1)
#define RCQB_EGONE_SHIFT (RCQB_ROUND_SHIFT + RCQB_ROUND_BITS)
#define RCQB_DGONE_SHIFT (RCQB_EGONE_SHIFT + RCQB_GONE_BITS)

#define RCQB_DEFAULT_SPIN_BUDGET 1000

_Static_assert(RCQB_EGONE_SHIFT == 28, "enqueuer-gone mask at bit 28");
_Static_assert(RCQB_DGONE_SHIFT == 46, "dequeuer-gone mask at bit 46");
_Static_assert(RCQB_DGONE_SHIFT + RCQB_GONE_BITS == 64, "slot word is exactly 64 bits");
_Static_assert(RCQB_ROUND_SHIFT + RCQB_ROUND_BITS <= 32, "round lies in the futex word");
_Static_assert(RCQB_OFF_TAIL % 64 == 0 && RCQB_OFF_HEAD % 64 == 0 && RCQB_OFF_SLOTS % 64 == 0,
	       "tail, head and slots on their own cache lines");

/* Results of rcqb_enqueue. */
#define RCQB_OK 0
#define RCQB_ERR_TIMEOUT (-1)
#define RCQB_ERR_CLOSED (-2)
#define RCQB_ERR_CORRUPT (-3)

#endif
