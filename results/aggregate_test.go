package results

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

// TestCollectorAggregation: the plain name of a per-pool metric joins the
// pools by the metric's rule: seconds are summed, a ratio is averaged, a
// percentage takes the worst pool, a per-pool-only metric has no plain
// name; records without a rule (older runs) follow the unit.
func TestCollectorAggregation(t *testing.T) {
	labels := map[string]string{"backend": "bpftrace"}
	ms := []Metric{
		{Pool: "p0", Name: "cpu_steal_seconds", Unit: "s", Value: 1, Agg: AggSum},
		{Pool: "p1", Name: "cpu_steal_seconds", Unit: "s", Value: 3, Agg: AggSum},
		{Pool: "p0", Name: "cpu_steal_ratio", Unit: "ratio", Value: 0.2, Agg: AggMean},
		{Pool: "p1", Name: "cpu_steal_ratio", Unit: "ratio", Value: 0.6, Agg: AggMean},
		{Pool: "p0", Name: "psi_avg10", Unit: "percent", Value: 5, Agg: AggMax},
		{Pool: "p1", Name: "psi_avg10", Unit: "percent", Value: 40, Agg: AggMax},
		{Pool: "p0", Name: "service_lock_wait_seconds", Unit: "s", Value: 2, Agg: AggPoolOnly},
		{Pool: "p0", Name: "old_ratio", Unit: "ratio", Value: 0.5}, // no rule: by unit
		{Pool: "p1", Name: "old_ratio", Unit: "ratio", Value: 1.5},
		{Pool: "p0", Name: "lock_wait_seconds", Unit: "s", Value: 0.5, Labels: labels, Agg: AggSum},
		{Pool: "p1", Name: "lock_wait_seconds", Unit: "s", Value: 0.25, Labels: labels, Agg: AggSum},
		{Name: "lock_wait_seconds", Unit: "s", Value: 9, Labels: labels},
		{Name: "host_iowait_ratio", Unit: "ratio", Value: 0.1},
	}
	out := map[string]float64{}
	collectorValues(out, ms)
	want := map[string]float64{
		"cpu_steal_seconds": 4, "cpu_steal_seconds@p1": 3,
		"cpu_steal_ratio": 0.4, "cpu_steal_ratio@p0": 0.2,
		"psi_avg10": 40, "psi_avg10@p0": 5,
		"service_lock_wait_seconds@p0":             2,
		"old_ratio":                                1,
		"lock_wait_seconds{backend=bpftrace}":      0.75,
		"lock_wait_seconds{backend=bpftrace}@host": 9,
		"host_iowait_ratio":                        0.1,
	}
	for k, w := range want {
		if got, ok := out[k]; !ok || math.Abs(got-w) > 1e-12 {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, w)
		}
	}
	if v, ok := out["service_lock_wait_seconds"]; ok {
		t.Errorf("per-pool-only metric has a plain value %v", v)
	}
}

// TestHostRowUnit: summary.csv gives an @host row the metric's unit, not
// its name.
func TestHostRowUnit(t *testing.T) {
	labels := map[string]string{"backend": "ftrace"}
	params := []Param{{"system", "K"}}
	var recs []Record
	for rep := 1; rep <= 2; rep++ {
		recs = append(recs,
			Record{Kind: KindInstance, Point: "system=K", Params: params, Repetition: rep, Workload: "w", Role: "main",
				Result: &InstanceResult{Ops: 1, Bytes: 1e6, Elapsed: time.Second}},
			Record{Kind: KindRepetition, Point: "system=K", Params: params, Repetition: rep, OK: true, Metrics: []Metric{
				{Pool: "p0", Name: "lock_wait_seconds", Unit: "s", Value: 1, Labels: labels},
				{Name: "lock_wait_seconds", Unit: "s", Value: 2, Labels: labels},
			}})
	}
	tab := BuildTable(recs, nil)
	for _, m := range []string{"lock_wait_seconds{backend=ftrace}", "lock_wait_seconds{backend=ftrace}@p0", "lock_wait_seconds{backend=ftrace}@host"} {
		r := tab.Lookup("system=K", m)
		if r == nil {
			t.Fatalf("no row %s in %v", m, tab.Metrics())
		}
		if r.Unit != "s" {
			t.Errorf("%s: unit %q, want s", m, r.Unit)
		}
	}
}

func TestResolveMetric(t *testing.T) {
	have := []string{"lock_wait_seconds{backend=bpftrace}", "lock_wait_seconds{backend=bpftrace}@p0",
		"collector_overhead_cores{collector=cpu}", "collector_overhead_cores{collector=psi}", "throughput_mbps"}
	for ref, want := range map[string]string{
		"throughput_mbps":                         "throughput_mbps",
		"lock_wait_seconds":                       "lock_wait_seconds{backend=bpftrace}",
		"lock_wait_seconds@p0":                    "lock_wait_seconds{backend=bpftrace}@p0",
		"lock_wait_seconds{backend=bpftrace}":     "lock_wait_seconds{backend=bpftrace}",
		"collector_overhead_cores{collector=psi}": "collector_overhead_cores{collector=psi}",
	} {
		if got, err := ResolveMetric(ref, have); err != nil || got != want {
			t.Errorf("ResolveMetric(%q) = %q, %v; want %q", ref, got, err, want)
		}
	}
	if _, err := ResolveMetric("collector_overhead_cores", have); !errors.Is(err, ErrAmbiguousMetric) {
		t.Errorf("two series: got %v, want ErrAmbiguousMetric", err)
	}
	_, err := ResolveMetric("lock_wait_seconds{backend=ftrace}", have)
	if err == nil || !strings.Contains(err.Error(), "nearest: lock_wait_seconds{backend=bpftrace}") {
		t.Errorf("no match: got %v, want the nearest names", err)
	}
}
