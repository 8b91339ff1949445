package queue

import "unsafe"

// alignedCells returns n zeroed 16-byte-aligned double words for cas128
// (the Go heap only promises 8-byte alignment for uint64 arrays).
func alignedCells(n int) [][2]uint64 {
	raw := make([]uint64, 2*n+1)
	off := 0
	if uintptr(unsafe.Pointer(&raw[0]))%16 != 0 {
		off = 1
	}
	return unsafe.Slice((*[2]uint64)(unsafe.Pointer(&raw[off])), n)
}
