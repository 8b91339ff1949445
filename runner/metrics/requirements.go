package metrics

import "polytropon/internal/hostcheck"

// Requirer is a collector that needs something of the host beyond the
// pools' cgroups. A collector lacking it does not fail a point: it
// reports no data (a note) or falls back, so its items are Optional.
type Requirer interface {
	Requirements() []hostcheck.Item
}

// Requirements lists what the named collector needs of this host (nil for
// one that needs nothing more, or an unknown name).
func Requirements(name string) []hostcheck.Item {
	c, err := New(name)
	if err != nil {
		return nil
	}
	r, ok := c.(Requirer)
	if !ok {
		return nil
	}
	items := r.Requirements()
	for i := range items {
		items[i].Optional = true
	}
	return items
}
