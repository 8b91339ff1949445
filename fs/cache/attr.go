package cache

import (
	"sync"
	"syscall"
	"time"

	"polytropon/fs"
)

// attrCache remembers Stat and Lstat results by cleaned name (the dentry
// and attribute cache). An entry is valid while its backend's epoch is the
// one read before the lookup that produced it and its timeout has not
// passed; every namespace or attribute change through any tenant of the
// pool on the same backend bumps the epoch.
type attrCache struct {
	mu sync.Mutex
	m  map[string]attrEntry
}

type attrEntry struct {
	st      statResult
	epoch   uint64
	expires time.Time
}

type statResult struct {
	st    fs.Stat
	errno syscall.Errno
}

// maxAttrEntries bounds the cache; it is cleared when full.
const maxAttrEntries = 1 << 16

func (a *attrCache) get(key string, epoch uint64) (statResult, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.m[key]
	if !ok || e.epoch != epoch || time.Now().After(e.expires) {
		return statResult{}, false
	}
	return e.st, true
}

func (a *attrCache) put(key string, r statResult, epoch uint64, ttl time.Duration) {
	if ttl <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m == nil || len(a.m) >= maxAttrEntries {
		a.m = map[string]attrEntry{}
	}
	a.m[key] = attrEntry{st: r, epoch: epoch, expires: time.Now().Add(ttl)}
}
