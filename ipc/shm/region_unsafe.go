package shm

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// word returns a pointer to the size-byte word at off after checking bounds
// and alignment of the actual address (segments are page aligned, but a
// Region over a Go slice need not be).
func (r Region) word(op string, off, size uint64) (unsafe.Pointer, error) {
	if err := r.check(op, off, size); err != nil {
		return nil, err
	}
	p := unsafe.Pointer(&r.b[off])
	if uintptr(p)%uintptr(size) != 0 {
		return nil, fmt.Errorf("%w: %s at offset %d (address %#x is not %d-byte aligned)", ErrMisaligned, op, off, uintptr(p), size)
	}
	return p, nil
}

// Uint32Ptr returns a checked, aligned pointer to the uint32 at off, for
// hot paths that validate the layout once and then use sync/atomic directly.
// The pointer is valid while the memory stays mapped.
func (r Region) Uint32Ptr(off uint64) (*uint32, error) {
	p, err := r.word("uint32 pointer", off, 4)
	return (*uint32)(p), err
}

// Uint64Ptr is Uint32Ptr for a uint64.
func (r Region) Uint64Ptr(off uint64) (*uint64, error) {
	p, err := r.word("uint64 pointer", off, 8)
	return (*uint64)(p), err
}

// LoadUint32 atomically loads the uint32 at off.
func (r Region) LoadUint32(off uint64) (uint32, error) {
	p, err := r.word("atomic load uint32", off, 4)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint32((*uint32)(p)), nil
}

// StoreUint32 atomically stores v at off.
func (r Region) StoreUint32(off uint64, v uint32) error {
	p, err := r.word("atomic store uint32", off, 4)
	if err != nil {
		return err
	}
	atomic.StoreUint32((*uint32)(p), v)
	return nil
}

// AddUint32 atomically adds delta at off and returns the new value.
func (r Region) AddUint32(off uint64, delta uint32) (uint32, error) {
	p, err := r.word("atomic add uint32", off, 4)
	if err != nil {
		return 0, err
	}
	return atomic.AddUint32((*uint32)(p), delta), nil
}

// CompareAndSwapUint32 atomically replaces old by new at off.
func (r Region) CompareAndSwapUint32(off uint64, old, new uint32) (bool, error) {
	p, err := r.word("atomic cas uint32", off, 4)
	if err != nil {
		return false, err
	}
	return atomic.CompareAndSwapUint32((*uint32)(p), old, new), nil
}

// LoadUint64 atomically loads the uint64 at off.
func (r Region) LoadUint64(off uint64) (uint64, error) {
	p, err := r.word("atomic load uint64", off, 8)
	if err != nil {
		return 0, err
	}
	return atomic.LoadUint64((*uint64)(p)), nil
}

// StoreUint64 atomically stores v at off.
func (r Region) StoreUint64(off uint64, v uint64) error {
	p, err := r.word("atomic store uint64", off, 8)
	if err != nil {
		return err
	}
	atomic.StoreUint64((*uint64)(p), v)
	return nil
}

// AddUint64 atomically adds delta at off and returns the new value.
func (r Region) AddUint64(off uint64, delta uint64) (uint64, error) {
	p, err := r.word("atomic add uint64", off, 8)
	if err != nil {
		return 0, err
	}
	return atomic.AddUint64((*uint64)(p), delta), nil
}

// CompareAndSwapUint64 atomically replaces old by new at off.
func (r Region) CompareAndSwapUint64(off uint64, old, new uint64) (bool, error) {
	p, err := r.word("atomic cas uint64", off, 8)
	if err != nil {
		return false, err
	}
	return atomic.CompareAndSwapUint64((*uint64)(p), old, new), nil
}

// lowHalf is the byte offset of the low 32 bits inside a native uint64.
var lowHalf = func() uint64 {
	x := uint64(1)
	if *(*byte)(unsafe.Pointer(&x)) == 1 {
		return 0
	}
	return 4
}()

// LowHalf returns a pointer to the 32 least significant bits of *p: the
// futex word of a 64-bit state word whose waiter flag sits in its low bits.
func LowHalf(p *uint64) *uint32 {
	return (*uint32)(unsafe.Add(unsafe.Pointer(p), lowHalf))
}

// addr is the address a futex system call needs. The caller keeps p alive
// (runtime.KeepAlive) across the call; shared segments never move.
func addr(p *uint32) uintptr { return uintptr(unsafe.Pointer(p)) }
