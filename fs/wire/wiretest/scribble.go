// Package wiretest plays a hostile or broken tenant against a service
// segment for tests: it writes random and adversarial values into the
// shared fields the service must never trust (request descriptors and
// their data ranges, queue headers, heads and tails, slot words and
// items, the queues' stats lines with their generation). The header is
// left alone: it carries only what clients read. Only tests (the fuzz
// target of fs/back, the cross-process stress of fs/client) import it.
package wiretest

import (
	"encoding/binary"
	"math/rand/v2"

	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// Kinds of scribble: the structure a Scribble hits.
const (
	KindDesc       = iota // any word of a request descriptor
	KindQueueHead         // a queue header word: magic, capacity, flags, tail, head
	KindSlot              // a queue slot's word or item
	KindQueueStats        // a queue's stats line (threads, generation)
	KindDescRange         // a descriptor's data range fields (offsets and lengths)
	NumKinds
)

// KindNames names the kinds, for reports.
var KindNames = [NumKinds]string{"descriptor words", "queue header words", "queue slots", "queue stats words", "descriptor ranges"}

// Scribble is one hostile write: Kind selects the structure, Sel the
// instance and the word, Val the value.
type Scribble struct {
	Kind uint8
	Sel  uint32
	Val  uint64
}

// EncodedSize is the size of an encoded Scribble (fuzz inputs).
const EncodedSize = 13

// Decode splits a fuzz input into scribbles.
func Decode(data []byte) []Scribble {
	var out []Scribble
	for ; len(data) >= EncodedSize; data = data[EncodedSize:] {
		out = append(out, Scribble{data[0] % NumKinds, binary.LittleEndian.Uint32(data[1:]), binary.LittleEndian.Uint64(data[5:])})
	}
	return out
}

// Encode is the inverse of Decode (seed corpora).
func Encode(ss ...Scribble) []byte {
	var out []byte
	for _, s := range ss {
		out = append(out, s.Kind)
		out = binary.LittleEndian.AppendUint32(out, s.Sel)
		out = binary.LittleEndian.AppendUint64(out, s.Val)
	}
	return out
}

// At is the scribble writing val into word w of instance i (buffer or
// queue, modulo their count) of a structure of kind k; wide selects the
// 8-byte word where the structure has both sizes.
func At(k uint8, i, w uint32, wide bool, val uint64) Scribble {
	s := Scribble{Kind: k, Sel: i&0x7f | w<<8, Val: val}
	if wide {
		s.Sel |= 1 << 7
	}
	return s
}

// Apply writes s into the segment w (through its bounds-checked region:
// a selector never reaches outside the structure it names).
func Apply(w *wire.Seg, s Scribble) {
	l := w.Layout
	inst, word, wide := s.Sel&0x7f, uint64(s.Sel>>8), s.Sel&(1<<7) != 0
	put := func(off uint64, size8 bool) {
		if size8 {
			w.R.StoreUint64(off&^7, s.Val)
		} else {
			w.R.StoreUint32(off&^3, uint32(s.Val))
		}
	}
	qbase := l.QueuesOff + uint64(inst%l.NumQueues)*l.QueueStride
	qmem := qbase + wire.QueueStatsSize
	desc := l.BuffersOff + uint64(inst%l.NumBuffers)*l.BufferStride
	switch s.Kind % NumKinds {
	case KindDesc:
		put(desc+word%wire.DescSize, wide)
	case KindQueueHead:
		put(qmem+[]uint64{0, queue.RCQBOffCap, queue.RCQBOffFlags, queue.RCQBOffTail, queue.RCQBOffHead}[word%5], true)
	case KindSlot:
		put(qmem+queue.RCQBOffSlots+word%uint64(l.QueueCapacity)*queue.RCQBSlotBytes+8*uint64(s.Sel>>7&1), true)
	case KindQueueStats:
		put(qbase+word%wire.QueueStatsSize, false)
	case KindDescRange:
		put(desc+wire.DescRangesOffset+4*(word%8), false)
	}
}

// Random draws a scribble: a random structure and word, and a value that
// is adversarial half of the time (0, 1, all ones, sign bits, off-by-one
// sizes, small deltas, valid-looking states and buffer indices) and
// random otherwise.
func Random(rng *rand.Rand, l wire.Layout) Scribble {
	s := Scribble{Kind: uint8(rng.IntN(NumKinds)), Sel: rng.Uint32()}
	if rng.IntN(2) == 0 {
		s.Val = rng.Uint64()
		return s
	}
	adversarial := []uint64{0, 1, 2, 3, ^uint64(0), ^uint64(0) >> 1, 1 << 31, 1 << 32, 1 << 63,
		uint64(l.DataSize), uint64(l.DataSize) - 1, uint64(l.DataSize) + 1, uint64(l.NumBuffers), uint64(l.NumBuffers) - 1,
		uint64(l.QueueCapacity), uint64(wire.PathMax), uint64(wire.PathMax) + 1, 0xfffffff0,
		queue.RCQBMagic, queue.RCQBStateFull << queue.RCQBStateShift, queue.RCQBStateInvalid << queue.RCQBStateShift,
		uint64(rng.IntN(64)), uint64(rng.Int32())}
	s.Val = adversarial[rng.IntN(len(adversarial))]
	return s
}
