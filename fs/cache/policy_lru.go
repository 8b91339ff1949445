package cache

func init() {
	RegisterPolicy("lru", func(PoolInfo) Policy { return &lruPolicy{} })
}

// lruPolicy reclaims the least recently used page of the whole pool,
// ignoring owners and weights.
type lruPolicy struct{ l list }

func (p *lruPolicy) Added(pg *Page)    { p.l.pushFront(pg) }
func (p *lruPolicy) Accessed(pg *Page) { p.l.moveToFront(pg) }
func (p *lruPolicy) Removed(pg *Page)  { p.l.remove(pg) }
func (p *lruPolicy) WeightAware() bool { return false }

func (p *lruPolicy) Reclaim(_ *Tenant, ok func(*Page) bool) *Page { return p.l.scan(ok) }
