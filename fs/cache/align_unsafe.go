package cache

import "unsafe"

// frameAlign is the address alignment of page buffers: enough for O_DIRECT
// on every Linux file system, so a page can be the buffer of a direct read.
const frameAlign = 4096

// alignedChunk returns n bytes starting at a multiple of frameAlign.
func alignedChunk(n int) []byte {
	raw := make([]byte, n+frameAlign)
	skip := 0
	if r := int(uintptr(unsafe.Pointer(&raw[0])) % frameAlign); r != 0 {
		skip = frameAlign - r
	}
	return raw[skip : skip+n : skip+n]
}
