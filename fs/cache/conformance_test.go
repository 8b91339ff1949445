package cache_test

import (
	"os"
	"testing"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/fstest"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

func newLocal(t testing.TB, dir string, opts ...local.Option) *local.Local {
	t.Helper()
	l, err := local.New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func newCache(t testing.TB, backend fs.Service, o cache.Options) fs.Service {
	t.Helper()
	c, err := cache.New(backend, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("cache close: %v", err)
		}
	})
	return c
}

// small is a capacity that forces eviction in the suite's larger cases.
var modes = []struct {
	name string
	o    cache.Options
}{
	{"writeback", cache.Options{}},
	{"writethrough", cache.Options{WriteThrough: true}},
	{"writeback-small-4k", cache.Options{Capacity: 256 << 10, PageSize: 4096}},
}

func TestConformanceLocal(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			fstest.Run(t, func(t *testing.T) fs.Service {
				return newCache(t, newLocal(t, t.TempDir()), m.o)
			})
		})
	}
}

func TestConformanceLocalODirect(t *testing.T) {
	fstest.Run(t, func(t *testing.T) fs.Service {
		return newCache(t, newLocal(t, t.TempDir(), local.WithODirect()), cache.Options{})
	})
}

func TestConformanceUnion(t *testing.T) {
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			lower := newLocal(t, t.TempDir())
			fstest.Run(t, func(t *testing.T) fs.Service {
				u, err := union.New([]fs.Service{newLocal(t, t.TempDir()), lower})
				if err != nil {
					t.Fatal(err)
				}
				return newCache(t, u, m.o)
			})
		})
	}
}

// TestConformanceSharedWeighted runs the suite through a tenant of a small
// shared weighted pool (one allocation slot) beside an idle second tenant,
// so eviction and the allocation queue are exercised.
func TestConformanceSharedWeighted(t *testing.T) {
	fstest.Run(t, func(t *testing.T) fs.Service {
		sh, err := cache.NewShared(512<<10, "weighted", cache.WithPageSize(4096), cache.WithAllocSlots(1))
		if err != nil {
			t.Fatal(err)
		}
		other, err := sh.Tenant("idle", 900, newLocal(t, t.TempDir()), cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { other.Close() })
		c, err := sh.Tenant("suite", 100, newLocal(t, t.TempDir()), cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}

// TestConformanceUnionOverCachedLower runs the suite on unions whose shared
// lower branch is a tenant's cache instance over one lower service (the
// stacking that caches a shared image once; the lower stays unmodified).
func TestConformanceUnionOverCachedLower(t *testing.T) {
	lowerDir := t.TempDir()
	lower := newLocal(t, lowerDir)
	sh, err := cache.NewShared(8<<20, "weighted")
	if err != nil {
		t.Fatal(err)
	}
	fstest.Run(t, func(t *testing.T) fs.Service {
		lc, err := sh.Tenant(t.Name(), 100, lower, cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { lc.Close() })
		u, err := union.New([]fs.Service{newLocal(t, t.TempDir()), lc})
		if err != nil {
			t.Fatal(err)
		}
		return u
	})
	if ents, err := os.ReadDir(lowerDir); err != nil || len(ents) != 0 {
		t.Errorf("the shared lower branch was modified: %d entries (%v)", len(ents), err)
	}
}
