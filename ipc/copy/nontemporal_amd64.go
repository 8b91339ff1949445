package copy

const haveNT = true

// ntCopySteps copies steps*128 bytes from src to dst, dst 64-byte aligned:
// PREFETCHNTA of the first 10 source lines, then per step PREFETCHNTA of the
// two lines 10 lines ahead and MOVNTDQ of the current two lines; SFENCE at
// the end so the stores are visible before the caller publishes the data.
//
//go:noescape
func ntCopySteps(dst, src *byte, steps int)
