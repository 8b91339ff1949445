//go:build amd64

package queue

// cas128 atomically compares the 16 bytes at addr, which must be 16-byte
// aligned, with (old0, old1) and, if equal, replaces them by (new0, new1):
// LOCK CMPXCHG16B (cas128_amd64.s). Every x86-64 CPU Go supports (GOAMD64
// v1 upwards in practice; CX16 appeared in 2006) has the instruction.
//
//go:noescape
func cas128(addr *[2]uint64, old0, old1, new0, new1 uint64) bool
