package queue

import (
	"fmt"
	"sync/atomic"

	"polytropon/ipc/shm"
)

// Shared designs other than RCQB start with the same header:
//
//	0 magic uint64, 8 capacity uint64, 16 flags uint32 (flagClosed)
//
// and are sized by a per-design function of the capacity.
const (
	hdrOffMagic = 0
	hdrOffCap   = 8
	hdrOffFlags = 16

	flagClosed = 1 // in the flags word of every shared design, RCQB's too
)

// openShared formats (init) or validates (attach) the common header of a
// shared design and returns its capacity. size(capacity) is the number of
// bytes the design needs. On init the magic is written last, by publish.
func openShared(name string, magic uint64, mem []byte, cfg Config, init bool, size func(uint64) uint64) (uint64, error) {
	if err := checkWait(cfg); err != nil {
		return 0, err
	}
	r := shm.NewRegion(mem)
	if init {
		c, err := ringCapacity(cfg)
		if err != nil {
			return 0, err
		}
		if need := size(c); uint64(len(mem)) < need {
			return 0, fmt.Errorf("queue: %s needs %d bytes of memory, got %d", name, need, len(mem))
		}
		clear(mem[:size(c)])
		r.PutUint64At(hdrOffCap, c)
		return c, nil
	}
	m, err := r.LoadUint64(hdrOffMagic)
	if err != nil {
		return 0, fmt.Errorf("queue: %s attach: %w", name, err)
	}
	if m != magic {
		return 0, fmt.Errorf("%w: %s attach: bad magic %#x", ErrCorrupt, name, m)
	}
	c, _ := r.Uint64At(hdrOffCap)
	if c < 2 || c > maxCapacity || c&(c-1) != 0 || uint64(len(mem)) < size(c) {
		return 0, fmt.Errorf("%w: %s attach: capacity %d does not fit %d bytes", ErrCorrupt, name, c, len(mem))
	}
	return c, nil
}

// publish stores the magic, marking a formatted queue ready for attachers.
func publish(mem []byte, magic uint64) error {
	p, err := shm.NewRegion(mem).Uint64Ptr(hdrOffMagic)
	if err != nil {
		return err
	}
	atomic.StoreUint64(p, magic)
	return nil
}

// ptrs resolves checked pointers to words of a validated layout.
type ptrs struct {
	r   shm.Region
	err error
}

func (p *ptrs) u32(off uint64) *uint32 {
	v, err := p.r.Uint32Ptr(off)
	if err != nil && p.err == nil {
		p.err = err
	}
	return v
}

func (p *ptrs) u64(off uint64) *uint64 {
	v, err := p.r.Uint64Ptr(off)
	if err != nil && p.err == nil {
		p.err = err
	}
	return v
}

func regionOf(mem []byte) shm.Region { return shm.NewRegion(mem) }

// inProcessSize is Design.Size of designs that allocate their own memory.
func inProcessSize(Config) int { return 0 }

// clampBacklog is tail - head as a count in [0, capacity]: the words come
// from shared memory and are read at different moments, so a consumer
// that overtook a pending enqueue (or a corrupt word) may make the
// difference negative or huge.
func clampBacklog(tail, head, capacity uint64) int {
	n := int64(tail - head)
	switch {
	case n < 0:
		return 0
	case uint64(n) > capacity:
		return int(capacity)
	}
	return int(n)
}
