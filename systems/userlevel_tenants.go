package systems

import (
	"fmt"
	"slices"

	"polytropon/fs/cache"
	"polytropon/fs/service"
	"polytropon/fs/stack"
	"polytropon/internal/units"
)

// Tenants are the tenants of a pool that share its cache, the Justitia
// experiments: container i is tenant i, with weight Weights[i]. D builds
// one shared cache pool per pool and gives each container's instance its
// tenant, over the container's directory on fs/local with O_DIRECT (so
// the kernel page cache does not help); docs/cache.md.
type Tenants struct {
	Weights []int // one per container, 1..cache.MaxWeight
	// Policy: "conventional", one shared cache pool (clock2q, FIFO
	// allocation queue); "justitia", the same with the weighted policy and
	// the weight-ordered queue; "direct", no cache.
	Policy string
	Aging  bool       // aging in the weighted allocation queue (justitia)
	Cache  units.Size // cache per tenant; the pool is their sum
	// Slots is how many allocations of a full pool run at once; 0 is 1,
	// the allocation lock.
	Slots int
}

// tenantPolicies are the values of Tenants.Policy.
var tenantPolicies = []string{"conventional", "justitia", "direct"}

// check checks the tenants of a pool of that many containers.
func (t *Tenants) check(containers int) error {
	for i, w := range t.Weights {
		if w < 1 || w > cache.MaxWeight {
			return fmt.Errorf("tenants: weight %d of tenant %d: want 1..%d", w, i, cache.MaxWeight)
		}
	}
	switch {
	case len(t.Weights) != containers:
		return fmt.Errorf("tenants: %d weights for %d containers (tenant i is container i)", len(t.Weights), containers)
	case !slices.Contains(tenantPolicies, t.Policy):
		return fmt.Errorf("tenants: policy %q: want conventional, justitia or direct", t.Policy)
	case t.Slots < 0:
		return fmt.Errorf("tenants: slots %d: want 0 (1) or more", t.Slots)
	case t.Policy != "direct" && t.Cache <= 0:
		return fmt.Errorf("tenants: cache %v: want the cache per tenant (> 0)", t.Cache)
	}
	return nil
}

// stack is container i's stack: its private directory with O_DIRECT,
// under its tenant of the pool's shared cache unless the policy is direct.
func (t *Tenants) stack(poolName string, i int, dir string) []stack.Layer {
	bottom := stack.Layer{Type: stack.Local, Dir: dir, ODirect: true}
	if t.Policy == "direct" {
		return []stack.Layer{bottom}
	}
	policy := "clock2q" // conventional: kernel-like active/inactive lists, FIFO queue
	if t.Policy == "justitia" {
		policy = "weighted" // weight-aware reclamation and weight-ordered queue
	}
	settings := &stack.CacheOptions{
		Pool:         "tenants-" + poolName,
		Tenant:       fmt.Sprintf("c%d", i),
		Weight:       new(t.Weights[i]),
		PoolCapacity: t.Cache * units.Size(len(t.Weights)),
		PoolPolicy:   policy,
		PoolAging:    new(t.Aging),
		PoolSlots:    new(max(t.Slots, 1)),
	}
	return []stack.Layer{{Type: stack.Cache, Cache: settings}, bottom}
}

// dispatch gives the containers' instances their tenants' weights in the
// service's request dispatch (fs/back, dispatch.go), with the tenants'
// aging: the service's threads are the resource the tenants' requests
// wait for first, before the cache's allocation queue. Justitia weighs
// both; direct I/O is weighted as the block layer weighs it in the paper;
// the conventional cache, like the kernel's page cache, ignores weights.
func (t *Tenants) dispatch(cfg *service.Config) {
	if t.Policy == "conventional" {
		return
	}
	for i := range cfg.Instances {
		cfg.Instances[i].Weight = t.Weights[i]
	}
	cfg.WeightAging = new(t.Aging)
}
