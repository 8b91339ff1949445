package wire

import "sync/atomic"

// DescRangesOffset is where the descriptor's data ranges start (PathOff,
// PathLen, Path2Off, ... OutLen: eight uint32 words), for tools that
// exercise them.
var DescRangesOffset = dPathOff

// SetQueue records the queue the buffer is about to be enqueued on
// (client side, before SetState(StateSubmitted)).
func (b *Buffer) SetQueue(q uint32) { b.D.PutUint32At(dQueue, q) }

// Queue is the queue the client said it enqueued the buffer on. It comes
// from shared memory: the service only uses it to pick the requests to
// fail when that queue is quarantined, so a lie hurts the liar alone.
func (b *Buffer) Queue() uint32 { v, _ := b.D.Uint32At(dQueue); return v }

// Generation loads the queue's generation (0 until a first quarantine).
func (v QueueStatsView) Generation() uint32 { return atomic.LoadUint32(v.Gen) }
