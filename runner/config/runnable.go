package config

import (
	"fmt"

	"github.com/BurntSushi/toml"
)

// TenantCacheSystem is the system that applies [tenants] cache policies:
// D gives the tenants (containers) of its pool one shared cache.
const TenantCacheSystem = "D"

// ValidateRun reports what `polytropon run` cannot do with an experiment
// that Validate accepts: the [tenants] cache settings (policy, aging,
// cache, slots, or a tenants.* sweep) are applied only when the tenants are
// the containers of one pool (TenantContainers: they share the pool's
// filesystem service and so one cache) and only by system D. With tenants
// as pools every pool has its own service and private cache, so a harness
// run would silently measure something else; `polytropon cachebench FILE`
// (package fs/cache/justitia) runs such files. [tenants] weights alone are
// always fine: the summary then reports PV and Jain of the per-tenant
// throughput.
//
// A key counts as set when it appears in the file (or, for an experiment
// built in code, when it differs from its default). Call after
// EnsureDefaults and Validate.
func (e *Experiment) ValidateRun() error {
	t := e.Tenants
	if t == nil {
		return nil
	}
	p := &problems{src: e.src}
	set := func(key string, differs bool) bool {
		if e.src != nil {
			return e.src.line(toml.Key{"tenants", key}) > 0
		}
		return differs
	}
	var keys []string
	if set("policy", t.Policy != "" && t.Policy != "conventional") {
		keys = append(keys, "tenants.policy")
	}
	if set("aging", t.Aging) {
		keys = append(keys, "tenants.aging")
	}
	if set("cache", t.Cache != 0) {
		keys = append(keys, "tenants.cache")
	}
	if set("slots", t.Slots != 0) {
		keys = append(keys, "tenants.slots")
	}
	swept := false
	for i, s := range e.Sweeps {
		if s.Param == "tenants.policy" || s.Param == "tenants.aging" {
			swept = true
			if !e.TenantContainers() {
				p.add(fmt.Sprintf("sweep[%d].param", i), "%s: %s", s.Param, whyNotPools)
			}
		}
	}
	if !e.TenantContainers() {
		for _, k := range keys {
			p.add(k, "%s", whyNotPools)
		}
	} else if len(keys) > 0 || swept {
		for i, s := range e.Systems {
			if s != TenantCacheSystem {
				p.add(fmt.Sprintf("systems[%d]", i), "%q does not apply [tenants] cache policies (only %s does): leave it out or run it in an experiment without tenants.policy/aging/cache/slots", s, TenantCacheSystem)
			}
		}
	}
	if len(p.errs) > 0 {
		return joinInvalid(p.errs)
	}
	return nil
}

const whyNotPools = "tenant cache policies need the tenants to share one cache: " +
	"`polytropon run` applies them only to the containers of one pool (pools.count = [1], pools.containers = len(tenants.weights)); " +
	"with tenants as pools run the file with `polytropon cachebench FILE` (docs/cache.md)"
