package cache

import (
	"math/rand"
	"testing"
)

// fakePool is a PoolInfo over plain tenants: the policy under test is real,
// only the pool around it is reduced to its accounting.
type fakePool struct {
	frames  int
	tenants []*Tenant
}

func (f *fakePool) Frames() int        { return f.frames }
func (f *fakePool) Tenants() []*Tenant { return f.tenants }

// TestReclaimRespectsThresholds is a seeded property test of the weighted
// policy: whenever some tenant above its threshold has a reclaimable page,
// the victim belongs to a tenant above its threshold.
func TestReclaimRespectsThresholds(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewSource(seed))
		pool := &fakePool{frames: 64 + rng.Intn(200)}
		for i := 0; i < 2+rng.Intn(6); i++ {
			pool.tenants = append(pool.tenants, &Tenant{name: string(rune('a' + i)), id: i + 1, weight: 1 + rng.Intn(1000)})
		}
		pol, err := newPolicy("weighted", pool)
		if err != nil {
			t.Fatal(err)
		}
		th := thresholds(pool)
		ino := &inode{pages: map[int64]*Page{}}
		var pages []*Page
		busy := map[*Page]bool{} // dirty or locked: not reclaimable
		used := 0
		for step := 0; step < 3000; step++ {
			switch r := rng.Intn(10); {
			case r < 1 && len(pages) > 0: // a hit
				pol.Accessed(pages[rng.Intn(len(pages))])
			case r < 2 && len(pages) > 0: // a page turns dirty or clean
				p := pages[rng.Intn(len(pages))]
				busy[p] = !busy[p]
			default: // an allocation by a random tenant
				tn := pool.tenants[rng.Intn(len(pool.tenants))]
				if used < pool.frames {
					p := &Page{ino: ino, idx: int64(step), owner: tn}
					pol.Added(p)
					tn.pages++
					used++
					pages = append(pages, p)
					continue
				}
				// Would a tenant above its threshold have a reclaimable page?
				overOK := false
				for _, p := range pages {
					if !busy[p] && float64(p.owner.pages) > th[p.owner] {
						overOK = true
						break
					}
				}
				before := map[*Tenant]int{}
				for _, x := range pool.tenants {
					before[x] = x.pages
				}
				v := pol.Reclaim(tn, func(p *Page) bool { return !busy[p] })
				if v == nil {
					if overOK {
						t.Fatalf("seed %d step %d: no victim although a tenant above its threshold had one", seed, step)
					}
					continue
				}
				if busy[v] {
					t.Fatalf("seed %d step %d: victim is not reclaimable", seed, step)
				}
				if overOK && float64(before[v.owner]) <= th[v.owner] {
					t.Fatalf("seed %d step %d: took a page of %s (%d pages, threshold %.1f) while a tenant above its threshold had a reclaimable page",
						seed, step, v.owner.name, before[v.owner], th[v.owner])
				}
				pol.Removed(v)
				v.owner.pages--
				for i, p := range pages {
					if p == v {
						pages = append(pages[:i], pages[i+1:]...)
						break
					}
				}
				p := &Page{ino: ino, idx: int64(step), owner: tn}
				pol.Added(p)
				tn.pages++
				pages = append(pages, p)
			}
		}
	}
}

// TestPoliciesReclaimEverything checks every registered policy: each page
// added can be reclaimed exactly once, and pages the callback rejects are
// never returned.
func TestPoliciesReclaimEverything(t *testing.T) {
	for _, name := range Policies() {
		t.Run(name, func(t *testing.T) {
			ta, tb := &Tenant{name: "a", weight: 1, id: 1}, &Tenant{name: "b", weight: 3, id: 2}
			pool := &fakePool{frames: 100, tenants: []*Tenant{ta, tb}}
			pol, err := newPolicy(name, pool)
			if err != nil {
				t.Fatal(err)
			}
			ino := &inode{}
			left := map[*Page]bool{}
			for i := 0; i < 100; i++ {
				owner := ta
				if i%3 == 0 {
					owner = tb
				}
				p := &Page{ino: ino, idx: int64(i), owner: owner}
				pol.Added(p)
				owner.pages++
				left[p] = true
				if i%5 == 0 {
					pol.Accessed(p)
					pol.Accessed(p)
				}
			}
			for len(left) > 0 {
				v := pol.Reclaim(ta, func(p *Page) bool { return p.idx%2 == 0 })
				if v == nil {
					break
				}
				if !left[v] || v.idx%2 != 0 {
					t.Fatalf("victim %d: returned twice or rejected by the callback", v.idx)
				}
				delete(left, v)
				pol.Removed(v)
				v.owner.pages--
			}
			for p := range left {
				if p.idx%2 == 0 {
					t.Errorf("page %d was reclaimable but never returned", p.idx)
				}
			}
		})
	}
}
