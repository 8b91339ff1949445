package copy

import (
	"fmt"
	"testing"
)

// BenchmarkRoutine compares the bare SMO routine with the builtin copy on
// one buffer pair (no staging), by size.
func BenchmarkRoutine(b *testing.B) {
	for _, n := range []int{4 << 10, 64 << 10, 1 << 20, 16 << 20} {
		src, dst := pattern(n, 1), make([]byte, n)
		b.Run(fmt.Sprintf("routine=copy/size=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				copy(dst, src)
			}
		})
		b.Run(fmt.Sprintf("routine=nontemporal/size=%d", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			for b.Loop() {
				NonTemporal(dst, src)
			}
		})
	}
}
