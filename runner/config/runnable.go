package config

import "github.com/BurntSushi/toml"

// ValidateRun reports what `polytropon run` cannot do with an experiment
// that Validate accepts. Today that is the cache settings of [tenants]
// (policy, aging, cache): the Justitia experiments share ONE cache among
// tenants, while the harness gives every pool its own filesystem service
// and so its own private cache, so a harness run would silently measure
// something else. Those settings are run by `polytropon cachebench FILE`
// (package fs/cache/justitia). [tenants] weights alone are fine: the
// summary then reports PV and Jain of the per-pool throughput.
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
	const why = "tenant cache policies are run by `polytropon cachebench FILE` (docs/cache.md); `polytropon run` does not apply them yet"
	if set("policy", t.Policy != "" && t.Policy != "conventional") {
		p.add("tenants.policy", "%q: %s", t.Policy, why)
	}
	if set("aging", t.Aging) {
		p.add("tenants.aging", "%v: %s", t.Aging, why)
	}
	if set("cache", t.Cache != 0) {
		p.add("tenants.cache", "%v: %s", t.Cache, why)
	}
	if len(p.errs) > 0 {
		return joinInvalid(p.errs)
	}
	return nil
}
