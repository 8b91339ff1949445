//go:build amd64

package shm

// Prefetch asks the CPU to start fetching the cache line holding *p for
// reading, and PrefetchW for writing (in exclusive state, so a later
// store or atomic on the line needs no further transfer). Both are hints:
// they never fault and, unlike loads and locked instructions, are not
// ordered by fences, so a fetch started this way overlaps the cross-core
// transfer of an atomic that follows it (prefetch_amd64.s).
//
//go:noescape
func Prefetch(p *uint64)

// PrefetchW: see Prefetch.
//
//go:noescape
func PrefetchW(p *uint64)
