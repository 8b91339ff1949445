/*
 * rcqb.h: the enqueue side of the RCQB request queue (rcqb.c), the C port
 * of ipc/queue's RCQB. The queue's memory layout (offsets, slot word
 * fields, magic, flags) is not written here: it is generated from the Go
 * definitions (ipc/queue/rcqb_layout.go) into polytropon_wire.h.
 */
#ifndef POLY_RCQB_H
#define POLY_RCQB_H

#include <stdint.h>

#include "polytropon_wire.h"

/* Results of rcqb_enqueue: the C side of queue.ErrTimeout, ErrClosed and
 * ErrCorrupt. */
#define RCQB_OK 0
#define RCQB_ERR_TIMEOUT (-1)
#define RCQB_ERR_CLOSED (-2)
#define RCQB_ERR_CORRUPT (-3)

/* rcqb_enqueue adds item to the queue in mem (membytes long); wait is
 * POLY_WAIT_*, spin_budget 0 means RCQB_DEFAULT_SPIN_BUDGET, timeout_ns
 * <= 0 means none. */
int rcqb_enqueue(uint8_t *mem, uint64_t membytes, uint64_t item, uint32_t wait, uint32_t spin_budget,
		 int64_t timeout_ns) __attribute__((visibility("hidden")));
/* rcqb_prefetch_enqueue hints the slot the next enqueue will probably
 * take into this core's cache, for writing. */
void rcqb_prefetch_enqueue(uint8_t *mem, uint64_t membytes) __attribute__((visibility("hidden")));

#endif
