package results

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Aggregation says how the plain name of a per-pool collector metric
// joins the pools' values: a sum only where a sum means something
// (seconds, bytes, counts, cores); ratios and percentages take the mean
// or the max; some metrics have no plain name at all.
type Aggregation string

const (
	AggSum      Aggregation = "sum"  // seconds, bytes, counts, cores used
	AggMean     Aggregation = "mean" // ratios, percentages: the mean over the pools that reported
	AggMax      Aggregation = "max"  // the worst pool
	AggPoolOnly Aggregation = "pool" // per pool only: no plain name
)

// DefaultAggregation is the rule of a metric whose declaration (or
// record, in runs made before metrics declared one) says none: ratios
// and percentages are averaged, everything else is summed.
func DefaultAggregation(unit string) Aggregation {
	switch unit {
	case "ratio", "percent", "%":
		return AggMean
	}
	return AggSum
}

// Scope says where a collector metric has values.
type Scope int

const (
	ScopePool     Scope = iota // per pool: name@p<i>, and the plain name by its Aggregation
	ScopeHost                  // host-wide only: the plain name
	ScopePoolHost              // per pool, and host-wide as name@host
)

// MetricDecl declares a metric a collector produces, as experiment files
// may name it (plots, [compare], claims).
type MetricDecl struct {
	Name  string
	Unit  string
	Scope Scope
	// Agg joins the pools (ScopePool, ScopePoolHost); "" is
	// DefaultAggregation(Unit).
	Agg Aggregation
	// Labels tell series apart (a core, a lock type): a reference that
	// leaves one out matches as long as a run has one series only.
	Labels []string
	// Tags are labels with one value per run (which backend measured):
	// a reference may leave them out.
	Tags []string
}

// Aggregation is the declared rule, or the unit's default.
func (d MetricDecl) Aggregation() Aggregation {
	if d.Agg != "" {
		return d.Agg
	}
	return DefaultAggregation(d.Unit)
}

// MetricRef is a metric name as an experiment writes it, split:
// [<noise>.]<base>[:<qualifier>][{k=v,...}][@<pool>].
type MetricRef struct {
	Prefix, Base, Qualifier, Pool string
	Labels                        map[string]string
}

// ParseMetricRef splits a metric name; labels must be k=v pairs.
func ParseMetricRef(name string) (MetricRef, error) {
	var r MetricRef
	rest := name
	if i := strings.LastIndexByte(rest, '@'); i >= 0 {
		rest, r.Pool = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '{'); i >= 0 {
		if !strings.HasSuffix(rest, "}") {
			return r, fmt.Errorf("metric %q: labels must end with '}'", name)
		}
		r.Labels = map[string]string{}
		for _, kv := range strings.Split(rest[i+1:len(rest)-1], ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return r, fmt.Errorf("metric %q: label %q is not k=v", name, kv)
			}
			r.Labels[k] = v
		}
		rest = rest[:i]
	}
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		rest, r.Qualifier = rest[:i], rest[i+1:]
	}
	if i := strings.IndexByte(rest, '.'); i >= 0 {
		r.Prefix, rest = rest[:i], rest[i+1:]
	}
	r.Base = rest
	return r, nil
}

// unlabelled is the name without its labels.
func (r MetricRef) unlabelled() string {
	s := r.Base
	if r.Prefix != "" {
		s = r.Prefix + "." + s
	}
	if r.Qualifier != "" {
		s += ":" + r.Qualifier
	}
	if r.Pool != "" {
		s += "@" + r.Pool
	}
	return s
}

// ErrAmbiguousMetric means a metric name without labels matches several
// series of a run.
var ErrAmbiguousMetric = errors.New("ambiguous metric")

// ResolveMetric finds the metric of have that name refers to: the name
// itself, else the one series whose labels include the name's (so
// "lock_wait_seconds" is "lock_wait_seconds{backend=bpftrace}" in a run
// where bpftrace measured). Several matches or none are errors naming
// them, or the nearest names.
func ResolveMetric(name string, have []string) (string, error) {
	if slices.Contains(have, name) {
		return name, nil
	}
	ref, err := ParseMetricRef(name)
	if err != nil {
		return "", err
	}
	var found []string
	for _, h := range have {
		hr, err := ParseMetricRef(h)
		if err != nil || hr.unlabelled() != ref.unlabelled() {
			continue
		}
		ok := true
		for k, v := range ref.Labels {
			if hr.Labels[k] != v {
				ok = false
			}
		}
		if ok {
			found = append(found, h)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("metric %q has no values (nearest: %s)", name, strings.Join(Nearest(name, have, 5), ", "))
	}
	return "", fmt.Errorf("%w: %q matches %s; name the labels", ErrAmbiguousMetric, name, strings.Join(found, ", "))
}

// Nearest returns up to n names of have closest to name (edit distance),
// closest first.
func Nearest(name string, have []string, n int) []string {
	d := map[string]int{}
	for _, h := range have {
		d[h] = editDistance(name, h)
	}
	out := slices.SortedFunc(maps.Keys(d), func(a, b string) int {
		if d[a] != d[b] {
			return d[a] - d[b]
		}
		return strings.Compare(a, b)
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
