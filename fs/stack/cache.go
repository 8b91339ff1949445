package stack

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/internal/units"
)

// namedPool is a shared cache pool and the settings it was built with.
type namedPool struct {
	pool *cache.Shared
	spec string // the pool_* options it was built from
}

// CachePool returns the named shared cache pool the builder holds (nil if
// none); a pool whose tenants have all closed is still returned until the
// next tenant of its name replaces it.
func (b *Builder) CachePool(name string) *cache.Shared {
	b.mu.Lock()
	defer b.mu.Unlock()
	if np := b.pools[name]; np != nil {
		return np.pool
	}
	return nil
}

// The "cache" layer wraps the rest of the stack in a client cache
// (package fs/cache) with per-instance settings from the layer's options:
//
//	capacity, max_dirty, max_readahead   bytes ("256M", "1G", "65536")
//	page_size                            bytes (private pool)
//	dirty_expire, writeback_interval,
//	attr_timeout, entry_timeout          Go durations ("5s", "-1s" disables)
//	write_through                        true/false
//	policy                               eviction policy name (private pool)
//
// With pool = "<name>" the instance is a tenant of a named shared pool
// (cache.NewShared) instead of a private one: tenants sharing one cache,
// as in the Justitia experiments (docs/cache.md). Options of a tenant:
//
//	pool            the shared pool's name
//	tenant          the tenant's name (default: the pool name)
//	weight          1..cache.MaxWeight (default 100)
//	pool_capacity   pool size in bytes (required)
//	pool_policy     lru | clock2q | weighted (default clock2q); the
//	                allocation queue is FIFO for lru and clock2q and by
//	                weight for weighted
//	pool_aging      true/false, aging in the weighted queue (default true)
//	pool_slots      concurrent allocations while full (default 4; 1 is
//	                Justitia's allocation lock)
//	pool_page_size  bytes (default 64 KiB)
//
// Named pools belong to the Builder (one per filesystem service): every
// tenant of a name must give the same pool_* options; the pool lives while
// it has open tenants, and the next tenant of a name whose tenants have all
// closed gets a fresh pool.
//
// buildCache makes a cache layer over below.
func (b *Builder) buildCache(l Layer, below fs.Service) (fs.Service, error) {
	if below == nil {
		return nil, fmt.Errorf("%w: a cache layer needs layers below it in the stack", ErrConfig)
	}
	var o cache.Options
	var sh sharedSpec
	keys := make([]string, 0, len(l.Options))
	for k := range l.Options {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := l.Options[k]
		var err error
		if strings.HasPrefix(k, "pool") || k == "tenant" || k == "weight" {
			if err := sh.set(k, v); err != nil {
				return nil, fmt.Errorf("%w: cache option %s = %q: %v", ErrConfig, k, v, err)
			}
			continue
		}
		switch k {
		case "capacity":
			o.Capacity, err = parseBytes(v)
		case "max_dirty":
			o.MaxDirty, err = parseBytes(v)
		case "max_readahead":
			o.MaxReadahead, err = parseBytes(v)
		case "page_size":
			var n int64
			n, err = parseBytes(v)
			o.PageSize = int(n)
		case "dirty_expire":
			o.DirtyExpire, err = time.ParseDuration(v)
		case "writeback_interval":
			o.WritebackInterval, err = time.ParseDuration(v)
		case "attr_timeout":
			o.AttrTimeout, err = time.ParseDuration(v)
		case "entry_timeout":
			o.EntryTimeout, err = time.ParseDuration(v)
		case "write_through":
			o.WriteThrough, err = strconv.ParseBool(v)
		case "policy":
			o.Policy = v
		default:
			return nil, fmt.Errorf("%w: cache option %q (have capacity, max_dirty, max_readahead, page_size, dirty_expire, writeback_interval, attr_timeout, entry_timeout, write_through, policy, pool, tenant, weight, pool_capacity, pool_policy, pool_aging, pool_slots, pool_page_size)", ErrConfig, k)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: cache option %s = %q: %v", ErrConfig, k, v, err)
		}
	}
	if !sh.isSet {
		return cache.New(below, o)
	}
	if sh.name == "" {
		return nil, fmt.Errorf("%w: cache options tenant, weight and pool_* need pool = \"<name>\"", ErrConfig)
	}
	if o.Policy != "" || o.PageSize != 0 {
		return nil, fmt.Errorf("%w: cache pool %q: policy and page_size are settings of a private pool; use pool_policy and pool_page_size", ErrConfig, sh.name)
	}
	return b.openShared(&sh, below, o)
}

// sharedSpec is what the options say about a tenant of a named pool.
type sharedSpec struct {
	isSet    bool
	name     string
	tenant   string
	weight   int
	capacity int64
	policy   string
	aging    bool
	slots    int
	pageSize int64
}

func (sh *sharedSpec) set(k, v string) error {
	if !sh.isSet {
		*sh = sharedSpec{isSet: true, weight: 100, policy: "clock2q", aging: true, slots: 4, pageSize: cache.DefaultPageSize}
	}
	var err error
	switch k {
	case "pool":
		sh.name = v
	case "tenant":
		sh.tenant = v
	case "weight":
		sh.weight, err = strconv.Atoi(v)
		if err == nil && (sh.weight < 1 || sh.weight > cache.MaxWeight) {
			err = fmt.Errorf("want 1..%d", cache.MaxWeight)
		}
	case "pool_capacity":
		sh.capacity, err = parseBytes(v)
	case "pool_policy":
		sh.policy = v
	case "pool_aging":
		sh.aging, err = strconv.ParseBool(v)
	case "pool_slots":
		sh.slots, err = strconv.Atoi(v)
		if err == nil && sh.slots < 1 {
			err = fmt.Errorf("want at least 1")
		}
	case "pool_page_size":
		sh.pageSize, err = parseBytes(v)
	default:
		err = fmt.Errorf("unknown shared-pool option (have pool, tenant, weight, pool_capacity, pool_policy, pool_aging, pool_slots, pool_page_size)")
	}
	return err
}

// openShared returns the instance of the tenant in its named pool,
// building the pool if no open tenant holds it.
func (b *Builder) openShared(sh *sharedSpec, below fs.Service, o cache.Options) (fs.Service, error) {
	if sh.capacity <= 0 {
		return nil, fmt.Errorf("%w: cache pool %q: pool_capacity is required (bytes, e.g. \"128MiB\")", ErrConfig, sh.name)
	}
	spec := fmt.Sprintf("capacity=%d policy=%s aging=%t slots=%d page_size=%d", sh.capacity, sh.policy, sh.aging, sh.slots, sh.pageSize)
	name := sh.tenant
	if name == "" {
		name = sh.name
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	np := b.pools[sh.name]
	if np != nil && len(np.pool.Stats()) == 0 {
		np = nil // every tenant closed: the next one starts a fresh pool
	}
	if np == nil {
		pool, err := cache.NewShared(sh.capacity, sh.policy, cache.WithAging(sh.aging),
			cache.WithAllocSlots(sh.slots), cache.WithPageSize(int(sh.pageSize)))
		if err != nil {
			return nil, fmt.Errorf("%w: cache pool %q: %v", ErrConfig, sh.name, err)
		}
		np = &namedPool{pool: pool, spec: spec}
		if b.pools == nil {
			b.pools = map[string]*namedPool{}
		}
		b.pools[sh.name] = np
	} else if np.spec != spec {
		return nil, fmt.Errorf("%w: cache pool %q is shared with different settings: %s, open tenants have %s", ErrConfig, sh.name, spec, np.spec)
	}
	return np.pool.Tenant(name, sh.weight, below, o)
}

// parseBytes reads a byte count (a size in the one rule of
// internal/units); a leading '-' is kept (negative disables some options).
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	neg := strings.HasPrefix(s, "-")
	n, err := units.ParseSize(strings.TrimPrefix(s, "-"))
	if err != nil {
		return 0, err
	}
	if neg {
		return -n.Bytes(), nil
	}
	return n.Bytes(), nil
}
