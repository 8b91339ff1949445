// Package metrics holds the harness's collectors, one per file, each
// registered by name: per-core CPU and CPU steal per pool, CPU time and
// I/O-wait per pool, memory peak, context switches, kernel lock waits
// (lock:contention_* tracepoints), user-level lock waits of the filesystem
// services, PSI.
//
// A collector is started before the measured phase of one repetition and
// stopped after it; Stop returns the values of that window. A collector that
// has nothing to report on this host returns ErrNoData from Start (logged,
// not a failure), like node_exporter's collectors.
package metrics

import (
	"context"
	"errors"

	"polytropon/internal/registry"
	"polytropon/runner/pool"
)

// Target is what a collector observes during one window.
type Target struct {
	Pools []PoolTarget
	// ServicePIDs are the filesystem-service processes (user-level lock
	// waits are read from them); may be empty.
	ServicePIDs []int
}

// PoolTarget describes one pool to a collector.
type PoolTarget struct {
	Name  string
	Cores []int
	// CgroupV1 maps a v1 controller name ("cpuacct", "memory", "cpuset",
	// "cpu") to the pool's directory in that hierarchy; empty on cgroup-v2
	// hosts.
	CgroupV1 map[string]string
	// CgroupV2 is the pool's directory in the unified hierarchy (with or
	// without controllers: a label for tracing and PSI).
	CgroupV2 string
	PIDs     []int // processes of the pool known to the runner (may be partial)
}

// Metric is one value of one window.
type Metric struct {
	Pool  string  `json:"pool,omitempty"` // "" for host-wide values
	Name  string  `json:"name"`           // e.g. "cpu_steal_seconds", "lock_wait_seconds"
	Unit  string  `json:"unit"`           // "s", "bytes", "count", "ratio", ...
	Value float64 `json:"value"`
	// Labels refine the metric (e.g. lock type for top lock waits).
	Labels map[string]string `json:"labels,omitempty"`
}

// Collector observes one kind of metric over a window.
type Collector interface {
	Name() string
	Start(ctx context.Context, t Target) error
	Stop(ctx context.Context) ([]Metric, error)
}

// SlowStarter is a collector whose Start launches a helper that takes a
// while to attach (bpftrace compiles its script). The runner starts such
// collectors before the others and stops them after, so that the others'
// windows lie within theirs and their start-up CPU falls outside them
// (stealattr's attribution must cover steal's whole window).
type SlowStarter interface {
	SlowStart() bool
}

// SlowStart reports whether c says it starts slowly.
func SlowStart(c Collector) bool {
	s, ok := c.(SlowStarter)
	return ok && s.SlowStart()
}

// Encloser is a collector whose window must hold another's and no more:
// the runner starts the named collector right after it and stops it right
// before (stealattr attributes what steal measures).
type Encloser interface {
	Encloses() string
}

// Encloses is the collector c must enclose, or "".
func Encloses(c Collector) string {
	if e, ok := c.(Encloser); ok {
		return e.Encloses()
	}
	return ""
}

// ErrNoData means the collector cannot observe anything on this host.
var ErrNoData = errors.New("metrics: no data on this host")

// Factory builds a fresh collector for one window.
type Factory func() Collector

// collectors are the registered collectors.
var collectors = registry.New[Factory]("metrics", "collector")

// Register adds a collector; for init functions only.
func Register(name string, f Factory) { collectors.Register(name, f) }

// New returns a fresh instance of the named collector.
func New(name string) (Collector, error) {
	f, err := collectors.Lookup(name)
	if err != nil {
		return nil, err
	}
	return f(), nil
}

// Names lists the registered collectors.
func Names() []string { return collectors.Names() }

// TargetPool describes a provisioned pool to the collectors. PIDs are the
// pool's current processes (nil when the pool is gone).
func TargetPool(p *pool.Pool) PoolTarget {
	pids, _ := p.PIDs()
	return PoolTarget{Name: p.Name(), Cores: p.Cores(), CgroupV1: p.CgroupV1(), CgroupV2: p.CgroupV2(), PIDs: pids}
}
