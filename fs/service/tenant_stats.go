package service

import (
	"maps"
	"slices"
)

// logTenantStats logs, as the service stops, what its tenants got: per
// shared cache pool each tenant's weight, hits, misses, allocation grants
// and pages, and with weighted dispatch the data requests each instance
// had served by weight. One line per tenant and instance, so a harness run's
// serve.log shows the shares the weights divided, as cachebench prints
// them for its tenants (docs/cache.md).
func (s *Service) logTenantStats() {
	for _, name := range s.stacks.CachePoolNames() {
		pool := s.stacks.CachePool(name)
		for _, t := range pool.Stats() {
			s.log.Printf("cache pool %s: tenant %s weight %d: %d hits, %d misses, %d allocation grants, %d pages",
				name, t.Name, t.Weight, t.Hits, t.Misses, t.Grants, t.Pages)
		}
	}
	grants := s.driver.Grants()
	if grants == nil {
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, idx := range slices.Sorted(maps.Keys(s.instances)) {
		in := s.instances[idx]
		s.log.Printf("weighted dispatch: instance %s weight %d: %d data requests served", in.path, in.weight, grants[in.id])
	}
}
