package cache

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidOptions wraps every configuration error of New, NewShared and
// Shared.Tenant.
var ErrInvalidOptions = errors.New("cache: invalid options")

// Defaults (see the package documentation for why).
const (
	DefaultPageSize          = 64 << 10
	DefaultCapacity          = 256 << 20
	DefaultDirtyExpire       = 5 * time.Second
	DefaultWritebackInterval = 1 * time.Second
	DefaultAttrTimeout       = 1 * time.Second
	DefaultEntryTimeout      = 1 * time.Second
	DefaultMaxReadahead      = 1 << 20
	DefaultPolicy            = "clock2q"
)

// Options are the per-tenant settings of a cache instance. Zero values mean
// the defaults; a negative duration or size disables the feature where the
// field says so.
type Options struct {
	// Capacity caps the bytes of cached pages this tenant may own. For New
	// it is also the size of the private pool (default 256 MiB); for a
	// tenant of a Shared pool the default is the whole pool.
	Capacity int64
	// MaxDirty caps the tenant's dirty bytes (default 50% of Capacity).
	// A writer that goes over it writes back the tenant's oldest dirty
	// pages itself before its Pwrite returns (as balance_dirty_pages).
	MaxDirty int64
	// DirtyExpire is the age after which the tenant's flusher writes a
	// dirty page back (default 5 s, the kernel's dirty_expire_centisecs).
	DirtyExpire time.Duration
	// WritebackInterval is how often the flusher wakes (default 1 s, the
	// kernel's dirty_writeback_centisecs).
	WritebackInterval time.Duration
	// WriteThrough sends every Pwrite to the wrapped service before it
	// returns (cached pages are updated, never left dirty).
	WriteThrough bool
	// AttrTimeout is how long Stat/Lstat results are reused; negative
	// disables the attribute cache (default 1 s, FUSE's attr_timeout).
	AttrTimeout time.Duration
	// EntryTimeout is how long a negative lookup (ENOENT) is reused;
	// negative disables negative dentries (default 1 s).
	EntryTimeout time.Duration
	// MaxReadahead bounds the read-ahead window of a sequential stream in
	// bytes (default 1 MiB); negative disables read-ahead.
	MaxReadahead int64
	// Policy names the eviction policy of the private pool New creates
	// (default "clock2q"); ignored by Shared.Tenant.
	Policy string
	// PageSize of the private pool New creates (default 64 KiB); ignored
	// by Shared.Tenant (the pool's page size applies).
	PageSize int
}

// withDefaults fills zero fields; poolBytes is the capacity of the pool.
func (o Options) withDefaults(poolBytes int64) (Options, error) {
	if o.Capacity < 0 {
		return o, fmt.Errorf("%w: Capacity %d is negative", ErrInvalidOptions, o.Capacity)
	}
	if o.Capacity == 0 || o.Capacity > poolBytes {
		o.Capacity = poolBytes
	}
	if o.MaxDirty < 0 {
		return o, fmt.Errorf("%w: MaxDirty %d is negative", ErrInvalidOptions, o.MaxDirty)
	}
	if o.MaxDirty == 0 || o.MaxDirty > o.Capacity {
		o.MaxDirty = o.Capacity / 2
	}
	if o.DirtyExpire <= 0 {
		o.DirtyExpire = DefaultDirtyExpire
	}
	if o.WritebackInterval <= 0 {
		o.WritebackInterval = DefaultWritebackInterval
	}
	if o.AttrTimeout == 0 {
		o.AttrTimeout = DefaultAttrTimeout
	}
	if o.EntryTimeout == 0 {
		o.EntryTimeout = DefaultEntryTimeout
	}
	if o.MaxReadahead == 0 {
		o.MaxReadahead = DefaultMaxReadahead
	}
	return o, nil
}

// SharedOption configures NewShared.
type SharedOption func(*sharedConfig)

type sharedConfig struct {
	pageSize   int
	aging      bool
	allocSlots int
}

// WithPageSize sets the pool's page size: a power of two from 512 bytes to
// 16 MiB (default 64 KiB).
func WithPageSize(n int) SharedOption { return func(c *sharedConfig) { c.pageSize = n } }

// WithAging turns aging in the weighted allocation queue on or off (default
// on). Without aging a low-weight tenant waits as long as any heavier tenant
// waits: the Justitia paper's "without aging" configuration.
func WithAging(on bool) SharedOption { return func(c *sharedConfig) { c.aging = on } }

// WithAllocSlots sets how many allocations may be in flight while the pool is
// full (default 4): an allocation under pressure holds its slot while it
// reclaims a page and fills it, and waiters for a slot are ordered by the
// allocation queue.
func WithAllocSlots(n int) SharedOption { return func(c *sharedConfig) { c.allocSlots = n } }

func validPageSize(n int) bool { return n >= 512 && n <= 16<<20 && n&(n-1) == 0 }
