//go:build !amd64

package copy

const haveNT = false

func ntCopySteps(dst, src *byte, steps int) {
	panic("copy: no non-temporal routine on this architecture")
}
