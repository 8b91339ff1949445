//go:build !amd64

package queue

import (
	"sync"
	"sync/atomic"
)

// cas128Mu makes the fallback double-word CAS atomic with respect to other
// cas128 calls; the words are still stored atomically one by one, so
// concurrent single-word loads see each half whole, as on amd64.
var cas128Mu sync.Mutex

// cas128 is the portable stand-in for CMPXCHG16B (see cas128_amd64.go).
func cas128(addr *[2]uint64, old0, old1, new0, new1 uint64) bool {
	cas128Mu.Lock()
	defer cas128Mu.Unlock()
	if atomic.LoadUint64(&addr[0]) != old0 || atomic.LoadUint64(&addr[1]) != old1 {
		return false
	}
	atomic.StoreUint64(&addr[0], new0)
	atomic.StoreUint64(&addr[1], new1)
	return true
}
