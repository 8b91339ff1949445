package wire

import "sync/atomic"

// DescRangesOffset is where the descriptor's data ranges start (PathOff,
// PathLen, Path2Off, ... OutLen: eight uint32 words), for tools that
// exercise them.
var DescRangesOffset = dPathOff

// SetQueue records the queue the buffer is about to be enqueued on
// (client side, before SetState(StateSubmitted)). The word is atomic: the
// service's quarantine reads it while the client may be starting the
// buffer's next request; it is stored only when it changes (a buffer
// mostly stays on its thread's queue), so the request path pays a load.
func (b *Buffer) SetQueue(q uint32) {
	if atomic.LoadUint32(b.queue) != q {
		atomic.StoreUint32(b.queue, q)
	}
}

// Queue is the queue the client said it enqueued the buffer on. It comes
// from shared memory: the service only uses it to pick the requests to
// fail when that queue is quarantined, so a lie hurts the liar alone.
func (b *Buffer) Queue() uint32 { return atomic.LoadUint32(b.queue) }

// Generation loads the queue's generation (0 until a first quarantine).
func (v QueueStatsView) Generation() uint32 { return atomic.LoadUint32(v.Gen) }
