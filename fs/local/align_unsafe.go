package local

import "unsafe"

// isAligned reports whether the first byte of p sits at a multiple of align.
func isAligned(p []byte, align int64) bool {
	if len(p) == 0 {
		return true
	}
	return int64(uintptr(unsafe.Pointer(&p[0])))%align == 0
}

// alignedBuf returns a zeroed n-byte slice whose first byte is at a multiple
// of align (a power of two, as statx reports it).
func alignedBuf(n int, align int64) []byte {
	raw := make([]byte, n+int(align))
	skip := 0
	if r := int64(uintptr(unsafe.Pointer(&raw[0]))) % align; r != 0 {
		skip = int(align - r)
	}
	return raw[skip : skip+n : skip+n]
}
