package results

import (
	"regexp"
	"strings"
)

// Metric names. Every repetition of a point is reduced to one value per
// metric name (see RepetitionValues). A name has the form
//
//	[<noise>.]<base>[:<qualifier>][@<pool>]
//
// where:
//   - base is a workload metric (workloadMetrics) summed or merged over the
//     instances of the main workloads; noise workloads' metrics carry the
//     "<workload>." prefix;
//   - qualifier is the op kind of a latency metric ("latency_p99_us:put")
//     or the name of a workload counter ("counter:fsync_count");
//   - @<pool> restricts a metric to one pool, named as the runner names
//     pools ("throughput_mbps@p0", see PoolName), or to one container of
//     the only pool when the containers are the tenants
//     ("throughput_mbps@c0", see ContainerName).
//
// Collector metrics keep the collector's name, summed over pools and per
// pool as "name@<pool name>"; labels become "name{k=v}". "pv" and "jain"
// measure how proportional per-tenant (per-pool, or per-container) main
// throughput is to the [tenants] weights (see PV, Jain).
const (
	MetricThroughput = "throughput_mbps" // MB/s (10^6 B/s), summed over instances
	MetricOpsPerSec  = "ops_per_sec"     // ops/s, summed over instances
	MetricElapsed    = "elapsed_s"       // longest instance wall time (timespan)
	MetricPV         = "pv"
	MetricJain       = "jain"
)

// workloadMetrics are the bases derived from workload results.
var workloadMetrics = map[string]MetricInfo{
	MetricThroughput:  {Unit: "MB/s", HigherIsBetter: true},
	MetricOpsPerSec:   {Unit: "ops/s", HigherIsBetter: true},
	MetricElapsed:     {Unit: "s"},
	"bytes":           {Unit: "B", HigherIsBetter: true},
	"ops":             {Unit: "ops", HigherIsBetter: true},
	"latency_mean_us": {Unit: "mean-µs"},
	"latency_p50_us":  {Unit: "p50-µs"},
	"latency_p90_us":  {Unit: "p90-µs"},
	"latency_p99_us":  {Unit: "p99-µs"},
	"latency_p999_us": {Unit: "p99.9-µs"},
	"latency_max_us":  {Unit: "max-µs"},
	"counter":         {Unit: ""},
	MetricPV:          {Unit: "pv"},
	MetricJain:        {Unit: "jain", HigherIsBetter: true},
}

// latencyQuantiles maps latency bases to histogram quantiles.
var latencyQuantiles = map[string]float64{
	"latency_p50_us": 0.50, "latency_p90_us": 0.90, "latency_p99_us": 0.99,
	"latency_p999_us": 0.999, "latency_max_us": 1,
}

// MetricInfo is what the harness knows about a metric. A run that
// measures metrics of its own (a benchmark subcommand such as polytropon
// queuebench) declares them in Info.Metrics.
type MetricInfo struct {
	Name string `json:"name"`
	// Unit is the Go-benchmark-format unit for bench.txt ("MB/s", "p99-µs");
	// collector metrics use their name as the unit. Declared units must be
	// distinct among the metrics of one workload (one bench.txt line).
	Unit string `json:"unit"`
	// HigherIsBetter is true for throughput-like metrics; latency, time,
	// CPU, memory, lock waits and PV are lower-is-better.
	HigherIsBetter bool `json:"higher_is_better,omitempty"`
	// Known is false when the name matches no rule (Info still guesses).
	Known bool `json:"-"`
}

// Describe describes a metric of the run: as the run declares it
// (Metrics), else by name (DescribeMetric).
func (in *Info) Describe(name string) MetricInfo {
	for _, mi := range in.Metrics {
		if mi.Name == name {
			mi.Known = true
			return mi
		}
	}
	return DescribeMetric(name)
}

var (
	collectorName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	// workloadSpace are the prefixes of workload metric bases; a name in
	// this space must be a known workload metric (catches typos such as
	// "throughput_mbs" or "latency_p95_us").
	workloadSpace = []string{"throughput", "latency", "ops", "elapsed", "bytes", "counter", "pv", "jain"}
	higherWords   = []string{"throughput", "per_sec", "mbps", "iops", "bandwidth", "jain", "fairness", "hit_ratio"}
)

// SplitMetric splits a metric name into its noise prefix, base, qualifier
// and pool suffix.
func SplitMetric(name string) (prefix, base, qualifier, pool string) {
	rest := name
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest, pool = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '{'); i >= 0 { // labels of collector metrics
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest, qualifier = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		prefix, rest = rest[:i], rest[i+1:]
	}
	return prefix, rest, qualifier, pool
}

// DescribeMetric describes a metric by name. Unknown names are guessed: throughput-
// like words mean higher-is-better, everything else lower-is-better.
func DescribeMetric(name string) MetricInfo {
	_, base, qual, _ := SplitMetric(name)
	if mi, ok := workloadMetrics[base]; ok && (base != "counter" || qual != "") {
		mi.Name, mi.Known = name, true
		if base == "counter" {
			mi.Unit = qual
			mi.HigherIsBetter = false
		}
		return mi
	}
	mi := MetricInfo{Name: name, Unit: sanitizeUnit(name)}
	for _, w := range higherWords {
		if strings.Contains(base, w) {
			mi.HigherIsBetter = true
		}
	}
	return mi
}

// KnownMetric reports whether an experiment may name this metric: a
// workload metric, or (when collectors run) a snake_case collector metric
// name outside the workload metrics' namespace. Collectors do not declare
// their metric names, so those are checked for form only.
func KnownMetric(name string, withCollectors bool) bool {
	if DescribeMetric(name).Known {
		return true
	}
	_, base, _, _ := SplitMetric(name)
	if !withCollectors || !collectorName.MatchString(base) {
		return false
	}
	for _, w := range workloadSpace {
		if base == w || strings.HasPrefix(base, w+"_") {
			return false
		}
	}
	return true
}

// sanitizeUnit makes a name usable as a Go benchmark unit (no spaces).
func sanitizeUnit(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '_'
		}
		return r
	}, s)
}
