package stack

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/internal/units"
)

// namedPool is a shared cache pool and the settings it was built with.
type namedPool struct {
	pool *cache.Shared
	spec string // the pool_* settings it was built from
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

// CachePoolNames lists the names of the shared cache pools the builder
// holds, sorted.
func (b *Builder) CachePoolNames() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.pools))
}

// CacheOptions are the settings of a "cache" layer (its cache table in
// TOML), which wraps the rest of the stack in a client cache (package
// fs/cache). Zero values mean fs/cache's defaults:
//
//	capacity, max_dirty, page_size      sizes ("256MiB", 65536)
//	max_readahead                       a size; negative (-1) disables read-ahead
//	dirty_expire, writeback_interval,
//	attr_timeout, entry_timeout         Go durations ("5s"; "-1s" disables the
//	                                    attribute and negative-entry caches)
//	write_through                       true/false
//	policy                              eviction policy of the private pool
//
// With pool = "<name>" the instance is a tenant of a named shared pool
// (cache.NewShared) instead of a private one: tenants sharing one cache,
// as in the Justitia experiments (docs/cache.md). Settings of a tenant:
//
//	pool            the shared pool's name
//	tenant          the tenant's name (default: the pool name)
//	weight          1..cache.MaxWeight (default 100)
//	pool_capacity   pool size (required)
//	pool_policy     lru | clock2q | weighted (default clock2q); the
//	                allocation queue is FIFO for lru and clock2q and by
//	                weight for weighted
//	pool_aging      aging in the weighted queue (default true)
//	pool_slots      concurrent allocations while full (default 4; 1 is
//	                Justitia's allocation lock)
//	pool_page_size  size (default 64 KiB)
//
// Named pools belong to the Builder (one per filesystem service): every
// tenant of a name must give the same pool_* settings; the pool lives while
// it has open tenants, and the next tenant of a name whose tenants have all
// closed gets a fresh pool. The settings whose zero is not their default
// (weight, pool_aging, pool_slots) are pointers: nil is the default.
type CacheOptions struct {
	Capacity          units.Size     `toml:"capacity,omitzero"`
	MaxDirty          units.Size     `toml:"max_dirty,omitzero"`
	MaxReadahead      ByteLimit      `toml:"max_readahead,omitzero"`
	PageSize          units.Size     `toml:"page_size,omitzero"`
	DirtyExpire       units.Duration `toml:"dirty_expire,omitzero"`
	WritebackInterval units.Duration `toml:"writeback_interval,omitzero"`
	AttrTimeout       units.Duration `toml:"attr_timeout,omitzero"`
	EntryTimeout      units.Duration `toml:"entry_timeout,omitzero"`
	WriteThrough      bool           `toml:"write_through,omitempty"`
	Policy            string         `toml:"policy,omitempty"`

	Pool         string     `toml:"pool,omitempty"`
	Tenant       string     `toml:"tenant,omitempty"`
	Weight       *int       `toml:"weight,omitempty"`
	PoolCapacity units.Size `toml:"pool_capacity,omitzero"`
	PoolPolicy   string     `toml:"pool_policy,omitempty"`
	PoolAging    *bool      `toml:"pool_aging,omitempty"`
	PoolSlots    *int       `toml:"pool_slots,omitempty"`
	PoolPageSize units.Size `toml:"pool_page_size,omitzero"`
}

// Validate checks the settings without building anything.
func (o *CacheOptions) Validate() error {
	if o.Pool == "" {
		if o.Tenant != "" || o.Weight != nil || o.PoolCapacity != 0 || o.PoolPolicy != "" || o.PoolAging != nil ||
			o.PoolSlots != nil || o.PoolPageSize != 0 {
			return fmt.Errorf("cache settings tenant, weight and pool_* need pool = \"<name>\"")
		}
		return nil
	}
	switch {
	case o.Policy != "" || o.PageSize != 0:
		return fmt.Errorf("cache pool %q: policy and page_size are settings of a private pool; use pool_policy and pool_page_size", o.Pool)
	case o.PoolCapacity <= 0:
		return fmt.Errorf("cache pool %q: pool_capacity is required (a size, e.g. \"128MiB\")", o.Pool)
	case o.Weight != nil && (*o.Weight < 1 || *o.Weight > cache.MaxWeight):
		return fmt.Errorf("cache pool %q: weight %d: want 1..%d", o.Pool, *o.Weight, cache.MaxWeight)
	case o.PoolSlots != nil && *o.PoolSlots < 1:
		return fmt.Errorf("cache pool %q: pool_slots %d: want at least 1", o.Pool, *o.PoolSlots)
	}
	return nil
}

// cacheOptions are the instance's settings for fs/cache.
func (o *CacheOptions) cacheOptions() cache.Options {
	return cache.Options{
		Capacity: o.Capacity.Bytes(), MaxDirty: o.MaxDirty.Bytes(), MaxReadahead: int64(o.MaxReadahead),
		PageSize:    int(o.PageSize),
		DirtyExpire: time.Duration(o.DirtyExpire), WritebackInterval: time.Duration(o.WritebackInterval),
		AttrTimeout: time.Duration(o.AttrTimeout), EntryTimeout: time.Duration(o.EntryTimeout),
		WriteThrough: o.WriteThrough, Policy: o.Policy,
	}
}

// buildCache makes a cache layer over below.
func (b *Builder) buildCache(l Layer, below fs.Service) (fs.Service, error) {
	if below == nil {
		return nil, fmt.Errorf("%w: a cache layer needs layers below it in the stack", ErrConfig)
	}
	var o CacheOptions
	if l.Cache != nil {
		o = *l.Cache
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	if o.Pool == "" {
		return cache.New(below, o.cacheOptions())
	}
	return b.openShared(o.shared(), below, o.cacheOptions())
}

// sharedSpec is a named shared pool, its defaults filled in, and the
// tenant that opens it.
type sharedSpec struct {
	name     string
	tenant   string
	weight   int
	capacity int64
	policy   string
	aging    bool
	slots    int
	pageSize int64
}

// shared is what the settings say about a tenant of a named pool.
func (o *CacheOptions) shared() *sharedSpec {
	sh := &sharedSpec{name: o.Pool, tenant: o.Tenant, weight: 100, capacity: o.PoolCapacity.Bytes(),
		policy: o.PoolPolicy, aging: true, slots: 4, pageSize: o.PoolPageSize.Bytes()}
	if o.Weight != nil {
		sh.weight = *o.Weight
	}
	if sh.policy == "" {
		sh.policy = "clock2q"
	}
	if o.PoolAging != nil {
		sh.aging = *o.PoolAging
	}
	if o.PoolSlots != nil {
		sh.slots = *o.PoolSlots
	}
	if sh.pageSize == 0 {
		sh.pageSize = cache.DefaultPageSize
	}
	return sh
}

// openShared returns the instance of the tenant in its named pool,
// building the pool if no open tenant holds it.
func (b *Builder) openShared(sh *sharedSpec, below fs.Service, o cache.Options) (fs.Service, error) {
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
