package cache

func init() {
	RegisterPolicy("clock2q", func(PoolInfo) Policy { return &clock2q{} })
}

// clock2q is the conventional baseline, shaped like the kernel's page
// cache: new pages enter an inactive list; a page referenced again while
// inactive is promoted to the active list; reclamation takes unreferenced
// pages from the inactive tail, giving referenced ones a second chance, and
// refills the inactive list from the active tail when the active list grows
// larger than the inactive one. Owners and weights are ignored.
type clock2q struct {
	active, inactive list
}

func (c *clock2q) Added(p *Page) {
	p.list, p.ref = listInactive, false
	c.inactive.pushFront(p)
}

func (c *clock2q) Accessed(p *Page) {
	switch {
	case p.list == listActive:
		p.ref = true
	case p.ref:
		c.inactive.remove(p)
		p.list, p.ref = listActive, false
		c.active.pushFront(p)
	default:
		p.ref = true
	}
}

func (c *clock2q) Removed(p *Page) {
	if p.list == listActive {
		c.active.remove(p)
	} else {
		c.inactive.remove(p)
	}
	p.list = listNone
}

func (c *clock2q) WeightAware() bool { return false }

// balance moves pages from the active tail to the inactive list while the
// active list is the larger one; referenced active pages rotate instead.
func (c *clock2q) balance() {
	for budget := c.active.n; c.active.n > c.inactive.n && budget > 0; budget-- {
		p := c.active.tail
		c.active.remove(p)
		if p.ref {
			p.ref = false
			c.active.pushFront(p)
			continue
		}
		p.list = listInactive
		c.inactive.pushFront(p)
	}
}

func (c *clock2q) Reclaim(_ *Tenant, ok func(*Page) bool) *Page {
	c.balance()
	// Second chance: a referenced inactive page is activated, not taken.
	for p := c.inactive.tail; p != nil; {
		prev := p.prev
		if p.ref {
			c.inactive.remove(p)
			p.list, p.ref = listActive, false
			c.active.pushFront(p)
		} else if ok(p) {
			return p
		}
		p = prev
	}
	if p := c.inactive.scan(ok); p != nil {
		return p
	}
	return c.active.scan(ok)
}
