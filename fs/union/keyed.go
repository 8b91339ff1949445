package union

import (
	"slices"
	"sync"
)

// keyedMutex is a set of mutexes addressed by path: two goroutines contend
// only when they lock the same name, so a long copy-up of one file never
// blocks work on another. Entries exist only while locked or waited for.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry // guarded by mu
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int // guarded by keyedMutex.mu
}

// lock locks every distinct key, in sorted order so that two callers locking
// overlapping sets cannot deadlock, and returns the function that unlocks
// them all.
func (k *keyedMutex) lock(keys ...string) (unlock func()) {
	keys = slices.Clone(keys)
	slices.Sort(keys)
	keys = slices.Compact(keys)
	entries := make([]*keyedEntry, len(keys))
	k.mu.Lock()
	if k.m == nil {
		k.m = make(map[string]*keyedEntry)
	}
	for i, key := range keys {
		e := k.m[key]
		if e == nil {
			e = &keyedEntry{}
			k.m[key] = e
		}
		e.refs++
		entries[i] = e
	}
	k.mu.Unlock()
	for _, e := range entries {
		e.mu.Lock()
	}
	return func() {
		for i := len(entries) - 1; i >= 0; i-- {
			entries[i].mu.Unlock()
		}
		k.mu.Lock()
		for i, key := range keys {
			if entries[i].refs--; entries[i].refs == 0 {
				delete(k.m, key)
			}
		}
		k.mu.Unlock()
	}
}
