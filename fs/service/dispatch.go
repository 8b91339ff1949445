package service

import (
	"polytropon/fs/back"
	"polytropon/fs/wire"
)

// Weight-aware dispatch (fs/back, dispatch.go): an instance with a weight
// (InstanceConfig.Weight, the tenant's weight of the experiment's
// [tenants] table) is a tenant whose requests are served in weighted
// order, with aging unless weight_aging = false, when the service's
// threads are contended. A service none of whose instances has a weight
// serves requests in queue order, as without weights.

var _ back.Classifier = (*Service)(nil)

// Flow classifies a request by instance for the back driver: path calls
// by their instance, fd calls by the instance of their open file (the
// client's hold is checked when it is served), the rest (sessions,
// mounts) in flow 0. Its weight is the instance's, 0 when it has none.
func (s *Service) Flow(req *wire.Request) (uint32, int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var in *instance
	switch classOf(req.Call) {
	case pathCall:
		in = s.instances[req.Instance]
	case fdCall:
		idx, gen := wire.SplitSfd(req.Args[0])
		if idx < uint32(len(s.files)) && s.files[idx] != nil && s.files[idx].gen == gen {
			in = s.files[idx].inst
		}
	}
	if in == nil {
		return 0, 0
	}
	return in.id, in.weight
}

// dispatch is the back driver's dispatch of cfg: weighted when an
// instance has a weight.
func (cfg *Config) dispatch() back.Dispatch {
	d := back.Dispatch{NoAging: cfg.WeightAging != nil && !*cfg.WeightAging}
	for _, in := range cfg.Instances {
		d.Weighted = d.Weighted || in.Weight > 0
	}
	return d
}
