package ipcbench

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// wordAt views the 8 bytes of b at off as an atomic word. Offsets come from
// this package's own layouts, never from shared memory, but are checked all
// the same.
func wordAt(b []byte, off int) (*atomic.Uint64, error) {
	if off < 0 || off+8 > len(b) {
		return nil, fmt.Errorf("bench: word at %d outside %d-byte buffer", off, len(b))
	}
	p := unsafe.Pointer(&b[off])
	if uintptr(p)%8 != 0 {
		return nil, fmt.Errorf("bench: word at %d is not 8-byte aligned", off)
	}
	return (*atomic.Uint64)(p), nil
}

// alignedBytes returns n zeroed bytes starting on an align boundary
// (align a power of two).
func alignedBytes(n, align int) []byte {
	b := make([]byte, n+align)
	skip := int(uintptr(align)-uintptr(unsafe.Pointer(&b[0]))%uintptr(align)) % align
	return b[skip : skip+n : skip+n]
}
