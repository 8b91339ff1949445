package service

import (
	"polytropon/fs/back"
	"polytropon/fs/wire"
)

// Weight-aware dispatch (fs/back, dispatch.go): an instance with a weight
// (InstanceConfig.Weight, the tenant's weight of the experiment's
// [tenants] table) is a tenant whose data calls are served in weighted
// order, with aging unless weight_aging = false, when the service's
// threads are contended. A service none of whose instances has a weight
// serves requests in queue order, as without weights.
//
// The weights divide what Justitia and cgroup I/O weights divide: the
// calls that read, write or allocate file data (page allocation, block
// I/O). The other calls (open, close, stat, lseek, directories, sessions,
// mounts) wait in one control flow of the top weight, ahead of the data
// calls: without aging a light tenant's reads all but starve, as in the
// paper, but it still opens and closes its files, rather than a run
// failing because a tenant's open waited for a thousand reads of others.

var _ back.Classifier = (*Service)(nil)

// controlFlow is the flow of every call that is no data call (instance
// ids start at 1).
const controlFlow = 0

// Flow classifies a request for the back driver: a data call by the
// instance of its open file (the client's hold is checked when it is
// served) with the instance's weight (0 when it has none), every other
// call in the control flow with weight MaxWeight.
func (s *Service) Flow(req *wire.Request) (uint32, int) {
	if !isDataCall(req.Call) {
		return controlFlow, MaxWeight
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	idx, gen := wire.SplitSfd(req.Args[0])
	if idx < uint32(len(s.files)) && s.files[idx] != nil && s.files[idx].gen == gen {
		in := s.files[idx].inst
		return in.id, in.weight
	}
	return controlFlow, MaxWeight
}

// isDataCall reports whether call reads, writes or allocates file data.
func isDataCall(call uint32) bool {
	switch call {
	case wire.CallRead, wire.CallWrite, wire.CallPread, wire.CallPwrite, wire.CallFsync,
		wire.CallFtruncate, wire.CallFallocate:
		return true
	}
	return false
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
