package shm

import (
	"encoding/binary"
	"fmt"
)

// Region is a bounds-checked view of memory (usually a shared segment)
// addressed by byte offsets. Structures in shared memory refer to each other
// by offsets relative to a Region, never by pointers, because every process
// maps the segment at a different address. A Region is a small value; copy
// it freely.
//
// Every accessor checks its offset and length and returns an error wrapping
// ErrOutOfBounds (or ErrMisaligned) rather than panicking, so offsets and
// lengths read from shared memory can be passed straight in.
type Region struct {
	b []byte
}

// NewRegion returns a region over b.
func NewRegion(b []byte) Region { return Region{b: b} }

// Len returns the region's size in bytes.
func (r Region) Len() uint64 { return uint64(len(r.b)) }

// check reports whether [off, off+n) lies within the region, without
// overflowing on wild values.
func (r Region) check(op string, off, n uint64) error {
	l := uint64(len(r.b))
	if off > l || n > l-off {
		return fmt.Errorf("%w: %s at offset %d length %d in a region of %d bytes", ErrOutOfBounds, op, off, n, l)
	}
	return nil
}

// Sub returns the sub-region [off, off+n).
func (r Region) Sub(off, n uint64) (Region, error) {
	if err := r.check("sub-region", off, n); err != nil {
		return Region{}, err
	}
	return Region{b: r.b[off : off+n : off+n]}, nil
}

// Slice returns the bytes [off, off+n), aliasing the region.
func (r Region) Slice(off, n uint64) ([]byte, error) {
	if err := r.check("slice", off, n); err != nil {
		return nil, err
	}
	return r.b[off : off+n : off+n], nil
}

// Uint32At reads a native-endian uint32 (plain, non-atomic load).
func (r Region) Uint32At(off uint64) (uint32, error) {
	if err := r.check("read uint32", off, 4); err != nil {
		return 0, err
	}
	return binary.NativeEndian.Uint32(r.b[off:]), nil
}

// Uint64At reads a native-endian uint64 (plain, non-atomic load).
func (r Region) Uint64At(off uint64) (uint64, error) {
	if err := r.check("read uint64", off, 8); err != nil {
		return 0, err
	}
	return binary.NativeEndian.Uint64(r.b[off:]), nil
}

// PutUint32At writes a native-endian uint32 (plain, non-atomic store).
func (r Region) PutUint32At(off uint64, v uint32) error {
	if err := r.check("write uint32", off, 4); err != nil {
		return err
	}
	binary.NativeEndian.PutUint32(r.b[off:], v)
	return nil
}

// PutUint64At writes a native-endian uint64 (plain, non-atomic store).
func (r Region) PutUint64At(off uint64, v uint64) error {
	if err := r.check("write uint64", off, 8); err != nil {
		return err
	}
	binary.NativeEndian.PutUint64(r.b[off:], v)
	return nil
}
