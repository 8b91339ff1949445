//go:build !amd64

package shm

// Prefetch is a no-op where no prefetch instruction is wired up (see
// prefetch_amd64.go).
func Prefetch(p *uint64) {}

// PrefetchW is a no-op here (see prefetch_amd64.go).
func PrefetchW(p *uint64) {}
