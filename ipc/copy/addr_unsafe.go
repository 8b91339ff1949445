package copy

import "unsafe"

// Addr is the address of b's first byte (0 for an empty slice), the form
// in which cross-memory attach names memory of another process.
func Addr(b []byte) uintptr {
	if len(b) == 0 {
		return 0
	}
	return uintptr(unsafe.Pointer(&b[0]))
}

// misalign is b's address modulo a cache line.
func misalign(b []byte) int { return int(Addr(b) % lineSize) }
