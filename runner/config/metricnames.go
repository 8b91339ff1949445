package config

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"polytropon/results"
	"polytropon/runner/metrics"
	"polytropon/workloads"
)

// A metric an experiment names (run.main_metric, a plot's y, a [compare]
// metric, a claim) must be one its workloads and collectors produce, so
// that a typo or a metric no collector writes fails before the sweep, not
// when the figure is drawn after it.

// workloadBases are the metrics derived from every workload's results.
var workloadBases = []string{results.MetricThroughput, results.MetricOpsPerSec, results.MetricElapsed, "ops", "bytes",
	"latency_mean_us", "latency_p50_us", "latency_p90_us", "latency_p99_us", "latency_p999_us", "latency_max_us", "counter:<name>"}

// MetricProblem says why name is not a metric of this experiment ("" when
// it is), with the nearest names it has.
func (e *Experiment) MetricProblem(name string) string { return e.metricProblem(name, false) }

// metricProblem is MetricProblem; with allSeries a collector metric may
// leave out the labels that tell its series apart (a breakdown plot
// draws them all).
func (e *Experiment) metricProblem(name string, allSeries bool) string {
	ref, err := results.ParseMetricRef(name)
	if err != nil {
		return err.Error()
	}
	decls, undeclared := metrics.ProducesKnown(e.Run.Collectors...)
	if ref.Prefix != "" {
		w := e.workload(ref.Prefix)
		switch {
		case w == nil || w.Role != "noise":
			return fmt.Sprintf("metric %q: %q is not a noise workload of this experiment (noise metrics are <noise workload>.<metric>)", name, ref.Prefix)
		case ref.Pool != "" || ref.Labels != nil:
			return fmt.Sprintf("metric %q: a noise workload's metrics have no pools or labels", name)
		}
	}
	wname := ref.Base
	if ref.Qualifier != "" {
		wname += ":" + ref.Qualifier
	}
	if results.DescribeMetric(wname).Known {
		return e.workloadMetricProblem(name, ref)
	}
	if ref.Prefix == "" {
		for _, d := range decls {
			if d.Name == ref.Base || (strings.Contains(d.Name, "<part>") && strings.HasPrefix(ref.Base, "collector_overhead_") && strings.HasSuffix(ref.Base, "_seconds")) {
				return e.collectorMetricProblem(name, ref, d, allSeries)
			}
		}
	}
	if len(undeclared) > 0 && ref.Prefix == "" && results.KnownMetric(ref.Base, true) {
		return "" // a collector that does not declare its metrics may write it
	}
	var have []string
	for _, b := range workloadBases {
		have = append(have, b)
	}
	for _, d := range decls {
		have = append(have, d.Name)
	}
	cols := e.Run.Collectors
	if len(cols) == 0 {
		cols = metrics.Names()
	}
	return fmt.Sprintf("metric %q is produced by neither the workloads nor the collectors %v (nearest: %s)",
		name, cols, strings.Join(results.Nearest(ref.Base, have, 4), ", "))
}

func (e *Experiment) workloadMetricProblem(name string, ref results.MetricRef) string {
	if ref.Labels != nil {
		return fmt.Sprintf("metric %q: workload metrics have no labels", name)
	}
	if msg := e.opKindProblem(name, ref); msg != "" {
		return msg
	}
	if (ref.Base == results.MetricPV || ref.Base == results.MetricJain) && (e.Tenants == nil || len(e.Tenants.Weights) < 2) {
		return fmt.Sprintf("metric %q needs [tenants] weights (two or more)", name)
	}
	if ref.Pool == "" {
		return ""
	}
	if ref.Base != results.MetricThroughput && ref.Base != results.MetricOpsPerSec {
		return fmt.Sprintf("metric %q: only %s and %s have per-pool values", name, results.MetricThroughput, results.MetricOpsPerSec)
	}
	switch i, kind := poolSuffix(ref.Pool); {
	case kind == 'p' && i < e.maxPools():
		return ""
	case kind == 'p':
		return fmt.Sprintf("metric %q: pool %d does not exist (at most %d pools)", name, i, e.maxPools())
	case kind == 'c' && e.TenantContainers() && i < e.Pools.Containers:
		return ""
	case kind == 'c':
		return fmt.Sprintf("metric %q: per-container values exist only when the containers of one pool are the [tenants] (c0..c%d)", name, e.Pools.Containers-1)
	}
	return fmt.Sprintf("metric %q: unknown suffix @%s (want @p<pool> or @c<container>)", name, ref.Pool)
}

func (e *Experiment) collectorMetricProblem(name string, ref results.MetricRef, d results.MetricDecl, allSeries bool) string {
	if ref.Qualifier != "" {
		return fmt.Sprintf("metric %q: collector metrics have no :qualifier", name)
	}
	for k := range ref.Labels {
		if !slices.Contains(d.Labels, k) && !slices.Contains(d.Tags, k) {
			return fmt.Sprintf("metric %q: %s has no label %q (labels %v, tags %v)", name, d.Name, k, d.Labels, d.Tags)
		}
	}
	for _, k := range d.Labels {
		if _, ok := ref.Labels[k]; !ok && !allSeries {
			return fmt.Sprintf("metric %q: %s has one series per %s: name it, e.g. %s{%s=...}", name, d.Name, strings.Join(d.Labels, ", "), d.Name, d.Labels[0])
		}
	}
	switch i, kind := poolSuffix(ref.Pool); {
	case ref.Pool == "":
		if d.Scope != results.ScopeHost && d.Aggregation() == results.AggPoolOnly {
			return fmt.Sprintf("metric %q has per-pool values only: name a pool, %s@p0", name, name)
		}
	case ref.Pool == "host":
		if d.Scope != results.ScopePoolHost {
			return fmt.Sprintf("metric %q: %s has no @host value (a host-wide value beside per-pool ones)", name, d.Name)
		}
	case kind == 'p':
		if d.Scope == results.ScopeHost {
			return fmt.Sprintf("metric %q: %s is host-wide only (no per-pool values)", name, d.Name)
		}
		if i >= e.maxPools() {
			return fmt.Sprintf("metric %q: pool %d does not exist (at most %d pools)", name, i, e.maxPools())
		}
	default:
		return fmt.Sprintf("metric %q: unknown suffix @%s (want @p<pool> or @host)", name, ref.Pool)
	}
	return ""
}

// poolSuffix splits "p3" into 3, 'p' (and "c3" into 3, 'c'); kind 0 when
// it is neither.
func poolSuffix(s string) (int, byte) {
	if len(s) < 2 || (s[0] != 'p' && s[0] != 'c') {
		return 0, 0
	}
	i, err := strconv.Atoi(s[1:])
	if err != nil || i < 0 {
		return 0, 0
	}
	return i, s[0]
}

// opKindProblem checks the op kind of a latency metric
// ("latency_p99_us:write") against the kinds its workloads report, at
// every point, when they declare them (workloads.OpKinder).
func (e *Experiment) opKindProblem(name string, ref results.MetricRef) string {
	if ref.Qualifier == "" || !strings.HasPrefix(ref.Base, "latency_") {
		return ""
	}
	kinds := map[string]bool{}
	for _, w := range e.Workloads {
		if (ref.Prefix == "" && w.Role != "main") || (ref.Prefix != "" && w.Name != ref.Prefix) {
			continue
		}
		for _, pt := range e.Points() {
			wl, err := w.DecodeAt(pt)
			if err != nil {
				return "" // reported where the params are checked
			}
			k, ok := wl.(workloads.OpKinder)
			if !ok {
				return "" // a workload that does not say: any kind may be there
			}
			for _, kind := range k.OpKinds() {
				kinds[kind] = true
			}
		}
	}
	if len(kinds) == 0 || kinds[ref.Qualifier] {
		return ""
	}
	return fmt.Sprintf("metric %q: no op kind %q: the workloads report latency of %v", name, ref.Qualifier, slices.Sorted(maps.Keys(kinds)))
}
