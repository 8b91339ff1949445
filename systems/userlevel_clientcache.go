package systems

import (
	"fmt"

	"polytropon/fs/cache"
	"polytropon/fs/stack"
	"polytropon/internal/units"
)

// The client cache where the papers put it: inside the backend client,
// below the union (paper digest §2, "shared branches are cached once").
// Over a shared image, D's default stack of container i is
//
//	union
//	  cache (tenant c<i> of the pool's cache "client") over local upper
//	  cache (tenant "image", shared = "image": built once) over local image
//
// so N clones reading the image fill one copy of it in one cache pool per
// filesystem service, and each clone's writable branch is cached in the
// same pool under its own tenant with the cache_* settings (capacity,
// max_dirty, writeback_interval, ...) per tenant, as a private cache had
// them. The union is uncached, and its top is a union, so MOUNT's clone
// works on D's instances.

// clientCachePool is the name of the service's client cache pool.
const clientCachePool = "client"

// clientCachedUnion is container i's stack over the shared image lower:
// the union over cache tenants of the pool's client cache.
func (o *UserlevelOptions) clientCachedUnion(i, containers int, upper, lower string) []stack.Layer {
	return []stack.Layer{{Type: stack.Union, Branches: []stack.Layer{
		{Type: stack.Cache, Cache: o.clientTenant(fmt.Sprintf("c%d", i), containers),
			Over: []stack.Layer{{Type: stack.Local, Dir: upper, ODirect: o.ODirect}}},
		{Type: stack.Cache, Cache: o.clientTenant("image", containers), Shared: "image",
			Over: []stack.Layer{{Type: stack.Local, Dir: lower, ReadOnly: true, ODirect: o.ODirect}}},
	}}}
}

// clientTenant are the cache settings of one tenant of the client cache
// pool: the cache_* options, as a tenant of the pool cache_pool (default
// "client"; cache_policy and cache_page_size become the pool's). The pool
// holds, unless cache_pool_capacity says otherwise, what the tenants'
// private caches held together (cache_capacity, default 256 MiB, per
// container and one for the image); frames are allocated on demand, so
// what clones share is counted once.
func (o *UserlevelOptions) clientTenant(name string, containers int) *stack.CacheOptions {
	c := o.CacheLayer
	if c.Pool == "" {
		c.Pool = clientCachePool
		c.PoolPolicy, c.PoolPageSize = c.Policy, c.PageSize
		c.Policy, c.PageSize = "", 0
	}
	if c.PoolCapacity == 0 {
		per := c.Capacity
		if per == 0 {
			per = cache.DefaultCapacity
		}
		c.PoolCapacity = per * units.Size(containers+1)
	}
	c.Tenant = name
	return &c
}

// CloneStack is container i's stack in D over the shared image lower,
// with the client cache settings c (D's cache_* options) and containers
// clones: what the pool's filesystem service builds, for measurements of
// the cache outside it (polytropon cachebench -clones).
func CloneStack(c stack.CacheOptions, i, containers int, upper, lower string) []stack.Layer {
	o := defaultUserlevelOptions()
	o.CacheLayer = c
	return o.clientCachedUnion(i, containers, upper, lower)
}
