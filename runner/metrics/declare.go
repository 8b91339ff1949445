package metrics

import (
	"fmt"
	"slices"

	"polytropon/internal/registry"
	"polytropon/results"
)

// Every collector declares the metrics it produces (Declare, next to its
// Register), so that an experiment's plots, [compare] metrics and claims
// are checked against what its collectors write before anything runs,
// and so that the plain name of a per-pool metric joins the pools by the
// metric's own rule (results.Aggregation) rather than always by a sum.
// The collectors' tests check that every metric Stop returns is declared.

// declared are the metric declarations by collector name.
var declared = registry.New[[]results.MetricDecl]("metrics", "declaration")

// Declare records what a collector produces; for init functions only.
// Every collector also produces the overhead metrics (OverheadMetrics).
func Declare(collector string, ds ...results.MetricDecl) {
	declared.Register(collector, append(ds, overheadDecls...))
}

// Produces lists the metrics of the named collectors (all registered
// ones when names is empty, as the runner runs them all then).
func Produces(names ...string) ([]results.MetricDecl, error) {
	out, undeclared := ProducesKnown(names...)
	if len(undeclared) > 0 {
		return out, fmt.Errorf("metrics: collectors %v declare no metrics (metrics.Declare)", undeclared)
	}
	return out, nil
}

// ProducesKnown is Produces of the collectors that declare their metrics,
// and the names of those that do not (a collector registered without
// Declare: TestEveryCollectorDeclares fails on it; experiments accept
// any snake_case name from it, as before declarations).
func ProducesKnown(names ...string) (out []results.MetricDecl, undeclared []string) {
	if len(names) == 0 {
		names = Names()
	}
	for _, n := range names {
		ds, err := declared.Lookup(n)
		if err != nil {
			undeclared = append(undeclared, n)
			continue
		}
		for _, d := range ds {
			if !slices.ContainsFunc(out, func(o results.MetricDecl) bool { return o.Name == d.Name }) {
				out = append(out, d)
			}
		}
	}
	return out, undeclared
}

// Declared returns the declaration of a metric by name, whichever
// collector declares it.
func Declared(name string) (results.MetricDecl, bool) {
	all, _ := ProducesKnown()
	for _, d := range all {
		if d.Name == name || (d.Name == overheadPartName && isOverheadPart(name)) {
			return d, true
		}
	}
	return results.MetricDecl{}, false
}

// Record is a collector value as the results store it, with the
// aggregation rule its collector declares.
func Record(m Metric) results.Metric {
	r := results.Metric{Pool: m.Pool, Name: m.Name, Unit: m.Unit, Value: m.Value, Labels: m.Labels}
	if d, ok := Declared(m.Name); ok {
		r.Agg = d.Aggregation()
	}
	return r
}

// overheadPartName stands for collector_overhead_<part>_seconds.
const overheadPartName = "collector_overhead_<part>_seconds"

func isOverheadPart(name string) bool {
	const pre, suf = "collector_overhead_", "_seconds"
	return len(name) > len(pre)+len(suf) && name[:len(pre)] == pre && name[len(name)-len(suf):] == suf
}

// overheadDecls are the overhead metrics every collector reports
// (overhead.metrics).
var overheadDecls = []results.MetricDecl{
	{Name: "collector_overhead_cores", Unit: "cores", Scope: results.ScopeHost, Labels: []string{"collector"}},
	{Name: "collector_overhead_cpu_seconds", Unit: "s", Scope: results.ScopeHost, Labels: []string{"collector"}},
	{Name: "collector_overhead_start_seconds", Unit: "s", Scope: results.ScopeHost, Labels: []string{"collector"}},
	{Name: overheadPartName, Unit: "s", Scope: results.ScopeHost, Labels: []string{"collector"}},
}
