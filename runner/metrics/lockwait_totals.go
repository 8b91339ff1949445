package metrics

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// What the lockwait backends count: wait time and waits per pool, and per
// lock for the pools' locks.

// lockTotals are the waits of one window. Key "" = host-wide.
type lockTotals struct {
	waitNs map[string]uint64
	count  map[string]uint64
	top    map[string]map[lockKey]uint64 // pool -> lock -> wait ns
}

type lockKey struct {
	addr  uint64
	flags uint32
}

func newLockTotals() lockTotals {
	return lockTotals{waitNs: map[string]uint64{}, count: map[string]uint64{}, top: map[string]map[lockKey]uint64{}}
}

// add counts one wait of ns on lock k by a task of pool ("": of no pool).
func (l lockTotals) add(pool string, k lockKey, ns uint64) {
	l.addWaits(pool, ns, 1)
	if pool != "" {
		l.addTop(pool, k, ns)
	}
}

// addWaits counts n waits of ns in all, host-wide and for pool unless "".
func (l lockTotals) addWaits(pool string, ns, n uint64) {
	l.waitNs[""] += ns
	l.count[""] += n
	if pool == "" {
		return
	}
	l.waitNs[pool] += ns
	l.count[pool] += n
}

// addTop adds ns of waits on lock k to pool's locks.
func (l lockTotals) addTop(pool string, k lockKey, ns uint64) {
	if l.top[pool] == nil {
		l.top[pool] = map[lockKey]uint64{}
	}
	l.top[pool][k] += ns
}

// topLock is a lock and its wait.
type topLock struct {
	lockKey
	ns uint64
}

// topLocks are the n locks of m with the longest waits (ties: the lower
// address first).
func topLocks(m map[lockKey]uint64, n int) []topLock {
	var all []topLock
	for k, v := range m {
		all = append(all, topLock{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ns != all[j].ns {
			return all[i].ns > all[j].ns
		}
		return all[i].addr < all[j].addr
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Lock contention flags (include/trace/events/lock.h).
const (
	lcbSpin   = 1 << 0
	lcbRead   = 1 << 1
	lcbWrite  = 1 << 2
	lcbRT     = 1 << 3
	lcbPercpu = 1 << 4
	lcbMutex  = 1 << 5
)

// lockType names a lock the way `perf lock contention` does.
func lockType(flags uint32) string {
	switch flags {
	case lcbSpin:
		return "spinlock"
	case lcbSpin | lcbRead:
		return "rwlock:R"
	case lcbSpin | lcbWrite:
		return "rwlock:W"
	case lcbRead:
		return "rwsem:R"
	case lcbWrite:
		return "rwsem:W"
	case lcbRT:
		return "rt-mutex"
	case lcbRT | lcbRead:
		return "rwlock-rt:R"
	case lcbRT | lcbWrite:
		return "rwlock-rt:W"
	case lcbPercpu | lcbRead:
		return "pcpu-sem:R"
	case lcbPercpu | lcbWrite:
		return "pcpu-sem:W"
	case lcbMutex:
		return "mutex"
	case lcbMutex | lcbSpin:
		return "mutex-spin"
	case 0:
		return "semaphore"
	}
	return fmt.Sprintf("flags:0x%x", flags)
}

// parseAddr reads a lock address as the tracers print it ("0x" and hex
// digits); 0 when it is not one.
func parseAddr(s string) uint64 {
	a, _ := strconv.ParseUint(strings.TrimPrefix(s, "0x"), 16, 64)
	return a
}
