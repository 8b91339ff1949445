package copy

const (
	lineSize = 64
	// stepSize is what one pipeline step stores: two cache lines.
	stepSize = 2 * lineSize
	// ntMin is the shortest copy worth the vector routine; shorter ones
	// and the unaligned head and tail go through the builtin copy.
	ntMin = 4 * lineSize
)

// NonTemporal copies min(len(dst), len(src)) bytes from src to dst with the
// papers' SMO routine and returns the count. The destination's 64-byte
// aligned middle is written with non-temporal stores (they bypass the cache,
// which is the point when the data is handed to another core or process);
// the misaligned head and the tail shorter than two lines use copy. dst and
// src must not overlap. On architectures without the assembly routine it is
// the builtin copy.
func NonTemporal(dst, src []byte) int {
	n := min(len(dst), len(src))
	if n < ntMin || !haveNT {
		return copy(dst, src[:n])
	}
	head := misalign(dst)
	if head != 0 {
		head = lineSize - head
	}
	copy(dst[:head], src[:head])
	steps := (n - head) / stepSize
	body := steps * stepSize
	if steps > 0 {
		ntCopySteps(&dst[head], &src[head], steps)
	}
	copy(dst[head+body:n], src[head+body:n])
	return n
}
