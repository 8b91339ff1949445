package wire

import (
	"bytes"
	"fmt"
	"sync/atomic"
	"syscall"

	"polytropon/ipc/shm"
)

// Buffer is a view of request buffer Index: its descriptor and data area.
// The State, Done, Waiter and Owner words are reached through checked
// pointers (validated once, when the view is made); the other descriptor
// fields through bounds-checked Region calls.
type Buffer struct {
	Index uint32
	D     shm.Region // the descriptor
	Data  shm.Region // the data area

	state, done, waiter, owner, queue *uint32
	lines                             [3]*uint64 // first word of each request line (0-2)
}

// Buffer returns the view of buffer i.
func (s *Seg) Buffer(i uint32) (*Buffer, error) {
	if i >= s.Layout.NumBuffers {
		return nil, fmt.Errorf("%w: buffer %d of %d", ErrBadSegment, i, s.Layout.NumBuffers)
	}
	base := s.Layout.BuffersOff + uint64(i)*s.Layout.BufferStride
	b := &Buffer{Index: i}
	var err error
	if b.D, err = s.R.Sub(base, DescSize); err != nil {
		return nil, err
	}
	if b.Data, err = s.R.Sub(base+DataAreaOffset, uint64(s.Layout.DataSize)); err != nil {
		return nil, err
	}
	if b.state, err = b.D.Uint32Ptr(dState); err != nil {
		return nil, err
	}
	if b.waiter, err = b.D.Uint32Ptr(dWaiter); err != nil {
		return nil, err
	}
	if b.done, err = b.D.Uint32Ptr(dDone); err != nil {
		return nil, err
	}
	if b.owner, err = b.D.Uint32Ptr(dOwner); err != nil {
		return nil, err
	}
	if b.queue, err = b.D.Uint32Ptr(dQueue); err != nil {
		return nil, err
	}
	for i := range b.lines {
		if b.lines[i], err = b.D.Uint64Ptr(uint64(i) * CacheLine); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// Prefetch starts fetching the descriptor's request lines (a hint): the
// State line for writing, as the service's CAS on State follows.
func (b *Buffer) Prefetch() {
	shm.PrefetchW(b.lines[0])
	shm.Prefetch(b.lines[1])
	shm.Prefetch(b.lines[2])
}

// DonePtr is the futex word a client waits on.
func (b *Buffer) DonePtr() *uint32 { return b.done }

// Completed reports whether the service answered the request in flight.
func (b *Buffer) Completed() bool { return atomic.LoadUint32(b.done) != 0 }

// ResetCompletion clears Done and Waiter before a submission.
func (b *Buffer) ResetCompletion() {
	atomic.StoreUint32(b.done, 0)
	atomic.StoreUint32(b.waiter, 0)
}

// State loads the state word.
func (b *Buffer) State() uint32 { return atomic.LoadUint32(b.state) }

// SetState stores the state word.
func (b *Buffer) SetState(v uint32) { atomic.StoreUint32(b.state, v) }

// CASState moves the state from old to new.
func (b *Buffer) CASState(old, new uint32) bool {
	return atomic.CompareAndSwapUint32(b.state, old, new)
}

// Waiter loads the waiter flag.
func (b *Buffer) Waiter() uint32 { return atomic.LoadUint32(b.waiter) }

// SetWaiter stores the waiter flag.
func (b *Buffer) SetWaiter(v uint32) { atomic.StoreUint32(b.waiter, v) }

// Owner returns the owner word: 0 for a free buffer, pid for one a
// process holds, -pid for one it parked (holds but does not use: any
// process that finds no free buffer may take it over).
func (b *Buffer) Owner() int { return int(int32(atomic.LoadUint32(b.owner))) }

// Claim takes a free buffer for pid.
func (b *Buffer) Claim(pid int) bool { return b.Owner() == 0 && b.casOwner(0, pid) }

// TakeOver takes a buffer parked by another process (or by pid) for pid.
func (b *Buffer) TakeOver(pid int) bool {
	o := b.Owner()
	return o < 0 && b.casOwner(o, pid)
}

// Park marks a buffer pid holds as not in use (pid -> -pid); false when
// its owner word is not pid (scribbled by another process of the pool).
func (b *Buffer) Park(pid int) bool { return b.casOwner(pid, -pid) }

// Unpark takes a buffer pid parked back into use (-pid -> pid); false when
// another process took it over meanwhile.
func (b *Buffer) Unpark(pid int) bool { return b.casOwner(-pid, pid) }

// Release frees a buffer pid parked. A buffer on pid's free list may
// have been taken over meanwhile, by another process or by another
// connection of pid, and must then stay.
func (b *Buffer) Release(pid int) bool { return b.casOwner(-pid, 0) }

// Free frees the buffer if its owner word is still owner (a dead
// process's, as Owner returned it: held or parked).
func (b *Buffer) Free(owner int) bool { return b.casOwner(owner, 0) }

func (b *Buffer) casOwner(old, new int) bool {
	return atomic.CompareAndSwapUint32(b.owner, uint32(int32(old)), uint32(int32(new)))
}

// Complete publishes the result: Ret, then Done = 1, then a futex wake
// only when the client announced that it sleeps. State stays Busy, so a
// stale queue item of the buffer is dropped until the client resets it.
func (b *Buffer) Complete(ret int64) {
	b.D.PutUint64At(dRet, uint64(ret))
	atomic.StoreUint32(b.done, 1)
	if atomic.LoadUint32(b.waiter) != 0 {
		shm.FutexWake(b.done, 0)
	}
}

// Request is the decoded, not yet validated, descriptor of a request.
type Request struct {
	Call     uint32
	Flags    uint32
	Client   uint32
	Instance uint32
	Owner    int
	Uid, Gid uint32
	Args     [NumArgs]uint64
	Path     Range
	Path2    Range
	Data     Range
	Out      Range
}

// Range is an offset and length inside the data area.
type Range struct{ Off, Len uint32 }

// ReadRequest copies the descriptor's request fields (plain loads: the
// client published them before its release store of StateSubmitted).
func (b *Buffer) ReadRequest() Request {
	d := b.D
	g32 := func(off uint64) uint32 { v, _ := d.Uint32At(off); return v }
	r := Request{
		Call: g32(dCall), Flags: g32(dFlags), Client: g32(dClient), Instance: g32(dInstance),
		Owner: b.Owner(), Uid: g32(dUid), Gid: g32(dGid),
		Path:  Range{g32(dPathOff), g32(dPathLen)},
		Path2: Range{g32(dPath2Off), g32(dPath2Len)},
		Data:  Range{g32(dDataOff), g32(dDataLen)},
		Out:   Range{g32(dOutOff), g32(dOutLen)},
	}
	for i := range r.Args {
		r.Args[i], _ = d.Uint64At(dArgs + uint64(i)*8)
	}
	return r
}

// WriteRequest fills the descriptor (client side, before Submit).
func (b *Buffer) WriteRequest(r *Request) {
	d := b.D
	p32 := func(off uint64, v uint32) { d.PutUint32At(off, v) }
	p32(dCall, r.Call)
	p32(dFlags, r.Flags)
	p32(dClient, r.Client)
	p32(dInstance, r.Instance)
	p32(dUid, r.Uid)
	p32(dGid, r.Gid)
	for i, a := range r.Args {
		d.PutUint64At(dArgs+uint64(i)*8, a)
	}
	p32(dPathOff, r.Path.Off)
	p32(dPathLen, r.Path.Len)
	p32(dPath2Off, r.Path2.Off)
	p32(dPath2Len, r.Path2.Len)
	p32(dDataOff, r.Data.Off)
	p32(dDataLen, r.Data.Len)
	p32(dOutOff, r.Out.Off)
	p32(dOutLen, r.Out.Len)
}

// SetTid records the caller's thread id and bumps Seq (diagnostics).
func (b *Buffer) SetTid(tid int) {
	b.D.PutUint32At(dTid, uint32(int32(tid)))
	seq, _ := b.D.Uint64At(dSeq)
	b.D.PutUint64At(dSeq, seq+1)
}

// Ret reads the result (once Completed).
func (b *Buffer) Ret() int64 {
	v, _ := b.D.Uint64At(dRet)
	return int64(v)
}

// Bytes returns range rg of the data area, or EINVAL when it does not fit
// (offsets and lengths come from shared memory).
func (b *Buffer) Bytes(rg Range) ([]byte, syscall.Errno) {
	p, err := b.Data.Slice(uint64(rg.Off), uint64(rg.Len))
	if err != nil {
		return nil, syscall.EINVAL
	}
	return p, 0
}

// PathAt validates and returns a path range: within the data area, at
// most PathMax bytes, no NUL byte. An empty range is the empty name.
func (b *Buffer) PathAt(rg Range) (string, syscall.Errno) {
	if rg.Len > PathMax {
		return "", syscall.ENAMETOOLONG
	}
	p, e := b.Bytes(rg)
	if e != 0 {
		return "", e
	}
	if bytes.IndexByte(p, 0) >= 0 {
		return "", syscall.EINVAL
	}
	return string(p), 0
}
