package systems

import (
	"fmt"
	"strconv"
	"strings"

	"polytropon/fs/cache"
	"polytropon/fs/stack"
	"polytropon/internal/units"
)

// The tenants of a D pool that share its cache (the Justitia
// experiments): container i is tenant i.

// tenantOptions are the options parseTenants reads.
var tenantOptions = map[string]bool{
	"tenant_weights": true, "tenant_policy": true, "tenant_aging": true, "tenant_cache": true, "tenant_slots": true,
}

// tenantCache is the shared cache of the tenants (containers) of a pool.
type tenantCache struct {
	weights  []int
	policy   string // conventional, justitia or direct
	aging    bool
	perBytes int64 // cache per tenant
	slots    int
}

// parseTenants reads the tenant_* options; nil when there are none.
func parseTenants(o map[string]string, containers int) (*tenantCache, error) {
	set := false
	for k := range tenantOptions {
		if _, ok := o[k]; ok {
			set = true
		}
	}
	if !set {
		return nil, nil
	}
	t := &tenantCache{policy: o["tenant_policy"], slots: 1}
	for i, f := range strings.Split(o["tenant_weights"], ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > cache.MaxWeight {
			return nil, fmt.Errorf("systems: D: tenant_weights = %q: weight %d is not an integer 1..%d", o["tenant_weights"], i, cache.MaxWeight)
		}
		t.weights = append(t.weights, w)
	}
	if len(t.weights) != containers {
		return nil, fmt.Errorf("systems: D: tenant_weights = %q: %d weights for %d containers (tenant i is container i)", o["tenant_weights"], len(t.weights), containers)
	}
	switch t.policy {
	case "conventional", "justitia", "direct":
	default:
		return nil, fmt.Errorf("systems: D: tenant_policy = %q: want conventional, justitia or direct", t.policy)
	}
	var err error
	if t.aging, err = boolOption(o, "tenant_aging", false); err != nil {
		return nil, err
	}
	if v := o["tenant_slots"]; v != "" {
		if t.slots, err = strconv.Atoi(v); err != nil || t.slots < 1 {
			return nil, fmt.Errorf("systems: D: tenant_slots = %q: want an integer >= 1", v)
		}
	}
	if t.policy != "direct" {
		v := o["tenant_cache"]
		if t.perBytes, err = strconv.ParseInt(v, 10, 64); err != nil || t.perBytes <= 0 {
			return nil, fmt.Errorf("systems: D: tenant_cache = %q: want the bytes of cache per tenant (> 0)", v)
		}
	}
	return t, nil
}

// stack is container i's stack: its private directory with O_DIRECT,
// under its tenant of the pool's shared cache unless the policy is direct.
func (t *tenantCache) stack(poolName string, i int, dir string) []stack.Layer {
	bottom := stack.Layer{Type: "local", Dir: dir, ODirect: true}
	if t.policy == "direct" {
		return []stack.Layer{bottom}
	}
	policy := "clock2q" // conventional: kernel-like active/inactive lists, FIFO queue
	if t.policy == "justitia" {
		policy = "weighted" // weight-aware reclamation and weight-ordered queue
	}
	settings := &stack.CacheOptions{
		Pool:         "tenants-" + poolName,
		Tenant:       fmt.Sprintf("c%d", i),
		Weight:       new(t.weights[i]),
		PoolCapacity: units.Size(t.perBytes * int64(len(t.weights))),
		PoolPolicy:   policy,
		PoolAging:    new(t.aging),
		PoolSlots:    new(t.slots),
	}
	return []stack.Layer{{Type: stack.Cache, Cache: settings}, bottom}
}
