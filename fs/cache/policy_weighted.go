package cache

import "sort"

func init() {
	RegisterPolicy("weighted", func(info PoolInfo) Policy {
		return &weighted{info: info, lists: map[*Tenant]*list{}}
	})
}

// weighted is Justitia's weight-aware reclamation: tenant i's share is
// weight_i / Σ weight and its threshold share × pool pages; a victim is
// taken from the tenants above their thresholds first (the one furthest
// above first, its least recently used page), and only when none of them
// has a reclaimable page from every tenant in global LRU order. Each tenant
// keeps its own LRU list. It also asks the pool for a weight-ordered
// allocation queue.
type weighted struct {
	info  PoolInfo
	lists map[*Tenant]*list
	clock uint64
}

func (w *weighted) listOf(t *Tenant) *list {
	l := w.lists[t]
	if l == nil {
		l = &list{}
		w.lists[t] = l
	}
	return l
}

func (w *weighted) touch(p *Page) { w.clock++; p.stamp = w.clock }

func (w *weighted) Added(p *Page) {
	w.touch(p)
	w.listOf(p.owner).pushFront(p)
}

func (w *weighted) Accessed(p *Page) {
	w.touch(p)
	w.listOf(p.owner).moveToFront(p)
}

func (w *weighted) Removed(p *Page) {
	l := w.lists[p.owner]
	l.remove(p)
	if l.n == 0 {
		delete(w.lists, p.owner)
	}
}

func (w *weighted) WeightAware() bool { return true }

// Thresholds returns each open tenant's threshold in pages.
func thresholds(info PoolInfo) map[*Tenant]float64 {
	ts := info.Tenants()
	total := 0
	for _, t := range ts {
		total += t.weight
	}
	out := make(map[*Tenant]float64, len(ts))
	for _, t := range ts {
		out[t] = float64(t.weight) / float64(total) * float64(info.Frames())
	}
	return out
}

func (w *weighted) Reclaim(_ *Tenant, ok func(*Page) bool) *Page {
	th := thresholds(w.info)
	type cand struct {
		t      *Tenant
		excess float64
	}
	var over []cand
	for t, l := range w.lists {
		if l.n == 0 {
			continue
		}
		limit, open := th[t]
		if !open || float64(t.pages) > limit {
			// Pages of closed tenants count as over any threshold.
			over = append(over, cand{t, float64(t.pages) - limit})
		}
	}
	sort.Slice(over, func(i, j int) bool {
		if over[i].excess != over[j].excess {
			return over[i].excess > over[j].excess
		}
		return over[i].t.id < over[j].t.id
	})
	for _, c := range over {
		if p := w.lists[c.t].scan(ok); p != nil {
			return p
		}
	}
	// Global fallback: tenants in the order of their coldest page.
	var all []*list
	for _, l := range w.lists {
		if l.n > 0 {
			all = append(all, l)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].tail.stamp < all[j].tail.stamp })
	for _, l := range all {
		if p := l.scan(ok); p != nil {
			return p
		}
	}
	return nil
}
