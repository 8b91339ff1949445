// Package config is the experiment-file schema of the harness: one Go struct
// per TOML table, decoded strictly (an unknown key is an error naming its
// file and line), completed by EnsureDefaults, checked by Validate (every
// problem named by its key path), and expanded by Points into the experiment
// points the runner measures: the cartesian product of systems × pool counts
// × every [[sweep]] in file order.
//
// Typical use:
//
//	exp, err := config.Load("experiments/fig9-seqwrite.toml") // decode+defaults+validate
//	for _, p := range exp.Points() {
//		for _, pl := range exp.Layout(p) { ... }            // which workload runs in which container
//		w, err := exp.Workloads[i].DecodeAt(p)              // typed workload with the point's sweep values
//	}
//	opts, err := exp.SystemOptions("D")                     // typed [options.D] (NewSystemOptions)
//
// docs/experiments.md documents every key.
package config

import (
	"errors"

	"polytropon/internal/units"
	"polytropon/results"
)

// ErrInvalid wraps every decoding and validation failure.
var ErrInvalid = errors.New("config: invalid experiment")

// Experiment is one experiment file.
type Experiment struct {
	Name        string   `toml:"name"`
	Description string   `toml:"description"`
	Systems     []string `toml:"systems"` // paper labels: "D", "K", "K/K", "F", ...
	Backend     string   `toml:"backend"` // "local" (default) or "ceph"
	// Options are system-specific settings by system label ([options.D]),
	// kept raw as the file has them; SystemOptions decodes a system's
	// table into the system's own options struct, strictly.
	Options   map[string]map[string]any `toml:"options"`
	Run       Run                       `toml:"run"`
	Pools     Pools                     `toml:"pools"`
	Ceph      Ceph                      `toml:"ceph"`
	Workloads []*Workload               `toml:"workload"`
	Sweeps    []Sweep                   `toml:"sweep"`
	Tenants   *Tenants                  `toml:"tenants"`
	Plots     []Plot                    `toml:"plot"`
	Compare   Compare                   `toml:"compare"`
	// Scales are the [scale.smoke] and [scale.paper] overrides of the
	// body, which is the host scale (ApplyScale).
	Scales map[string]*Scale `toml:"scale"`

	// ScaleName is the scale applied ("host" for the body; "" when none
	// was asked for).
	ScaleName string `toml:"-"`

	// File is the path the experiment was loaded from ("" when built in
	// code); error messages name it.
	File string `toml:"-"`
	src  *source
}

// Run is the [run] table: how each point is measured.
type Run struct {
	Repetitions Repetitions `toml:"repetitions"`
	// CITarget: stop repeating once the 95% CI half-length of MainMetric is
	// within this fraction of its mean (the paper's 0.05).
	CITarget   float64  `toml:"ci_target"`
	MainMetric string   `toml:"main_metric"`
	Warmup     Duration `toml:"warmup"`   // unmeasured run before each repetition
	Duration   Duration `toml:"duration"` // measured phase of each repetition (workloads may end earlier)
	Timeout    Duration `toml:"timeout"`  // hard limit for one repetition incl. prepare
	Collectors []string `toml:"collectors"`
	Seed       int64    `toml:"seed"` // base RNG seed; instance seeds derive from it
	// DropCaches writes 3 to /proc/sys/vm/drop_caches before each repetition.
	DropCaches bool `toml:"drop_caches"`

	// warmupSet: the file (or its scale) wrote warmup, so "0s" means no
	// warm-up rather than the default.
	warmupSet bool
}

// Repetitions bounds the repetitions of one point.
type Repetitions struct {
	Min int `toml:"min"`
	Max int `toml:"max"`
}

// Pools is the [pools] table: the tenant pools of every point.
type Pools struct {
	Count        IntList    `toml:"count"` // pool counts to sweep: 4 or [1, 2, 4, 8]
	CoresPerPool int        `toml:"cores_per_pool"`
	Memory       units.Size `toml:"memory"` // memory limit per pool
	// Containers is the number of containers each main workload gets in
	// each of its pools (clones, for scale-up); sweep it with
	// [[sweep]] param = "containers".
	Containers int `toml:"containers"`
	// SharedLower gives every container a union over one shared read-only
	// image (Request.Lower) instead of a private directory.
	SharedLower bool `toml:"shared_lower"`
	// Oversubscribe lets pools share cores when count × cores_per_pool
	// exceeds the host (the paper's 32 pools on 64 cores; ours on 2).
	Oversubscribe bool `toml:"oversubscribe"`
}

// Ceph is the [ceph] table: an external cluster for backend = "ceph".
type Ceph struct {
	Conf    string `toml:"conf"`    // ceph.conf path; default $CEPH_CONF, $POLYTROPON_CEPH_CONF, then polytropon ceph up's cluster
	Keyring string `toml:"keyring"` // default from the conf
	User    string `toml:"user"`    // client name without "client.", default "admin"
	FSName  string `toml:"fs_name"` // CephFS file system name, default the cluster's default
}

// Workload is one [[workload]] table: a registered workload placed in some
// pools. Its [workload.params] table is decoded into the workload's own
// config struct by Decode, strictly.
type Workload struct {
	Name string `toml:"name"` // registered workload name
	// Role "main" (default) is measured and summarized unprefixed; "noise"
	// runs beside it (its metrics are prefixed "<name>.") and is left out at
	// points where the "noise" sweep is false.
	Role  string       `toml:"role"`
	Pools PoolSelector `toml:"pools"` // "all" (default), "first", "last", "rest" or [0, 2]
	// Instances per selected pool, each in its own container. Default:
	// pools.containers (swept by "containers") for main, 1 for noise.
	Instances int `toml:"instances"`
	// Params are the workload's settings, kept raw until Decode.
	Params map[string]any `toml:"params"`

	index int
	exp   *Experiment
}

// Sweep is one [[sweep]] table: a parameter and the values it takes. Params:
//   - "containers": pools.containers (ints >= 1)
//   - "noise": whether noise workloads run (booleans)
//   - "<workload>.<param>": a key of that workload's params table
type Sweep struct {
	Param  string `toml:"param"`
	Values []any  `toml:"values"`
}

// Tenants is the [tenants] table: per-tenant settings of the cache and
// proportional-share experiments. Tenant i is pool i, or, with
// pools.count = [1] and pools.containers = len(weights), container i of
// the one pool: the tenants then share the pool's filesystem service and
// its cache (TenantContainers; the Justitia experiments).
type Tenants struct {
	Weights []int `toml:"weights"` // I/O weights (cgroup io.weight range 1..10000)
	// Cache is the user-level cache per tenant; 0 = system default (pool
	// tenants: 50% of pool memory; container tenants: 50% of the pool's
	// memory shared among them).
	Cache units.Size `toml:"cache"`
	// Policy: "conventional" (one shared cache, clock2q with a FIFO
	// allocation queue), "direct" (no cache, O_DIRECT) or "justitia"
	// (weight-aware allocation and reclamation); sweep it with
	// [[sweep]] param = "tenants.policy".
	Policy string `toml:"policy"`
	Aging  bool   `toml:"aging"` // weight aging in the allocation lock; sweepable as "tenants.aging"
	// Slots is how many allocations of a full cache run at once (0: 1, the
	// allocation lock of the paper).
	Slots int `toml:"slots"`
}

// TenantPolicies are the [tenants] policy names.
var TenantPolicies = []string{"conventional", "direct", "justitia"}

// TenantContainers reports whether the tenants are the containers of one
// pool (pools.count = [1], pools.containers = len(weights)) rather than
// the pools.
func (e *Experiment) TenantContainers() bool {
	t := e.Tenants
	return t != nil && len(t.Weights) > 1 && len(e.Pools.Count) == 1 && e.Pools.Count[0] == 1 &&
		e.Pools.Containers == len(t.Weights)
}

// TenantPolicy is the tenant cache policy and aging at point p: the swept
// values, else the [tenants] table's.
func (e *Experiment) TenantPolicy(p Point) (policy string, aging bool) {
	if e.Tenants == nil {
		return "", false
	}
	policy, aging = e.Tenants.Policy, e.Tenants.Aging
	if v, ok := p.Value("tenants.policy"); ok {
		if s, ok := v.(string); ok {
			policy = s
		}
	}
	if v, ok := p.Value("tenants.aging"); ok {
		if b, ok := v.(bool); ok {
			aging = b
		}
	}
	return policy, aging
}

// TenantCacheBytes is the cache per tenant (the [tenants] cache or its
// default) for container tenants.
func (e *Experiment) TenantCacheBytes() int64 {
	if e.Tenants == nil || len(e.Tenants.Weights) == 0 {
		return 0
	}
	if e.Tenants.Cache > 0 {
		return int64(e.Tenants.Cache)
	}
	return int64(e.Pools.Memory) / 2 / int64(len(e.Tenants.Weights))
}

// Plot is one [[plot]] table: a figure drawn from the run's summary.
type Plot struct {
	// Kind: "line" (y over x, one line per series, optional 95% CI bars),
	// "bar" (grouped bars) or "proportionality" (normalized bandwidth vs
	// weight per tenant, from [tenants]).
	Kind      string `toml:"kind"`
	X         string `toml:"x"`      // "pools", "system", "containers", "noise" or a swept param
	Y         string `toml:"y"`      // metric name
	Series    string `toml:"series"` // grouping like X; default "system"
	ErrorBars bool   `toml:"error_bars"`
	LogY      bool   `toml:"log_y"`
	Title     string `toml:"title"`
	File      string `toml:"file"` // base name under plots/ (".png" and ".svg" are written)
}

// Compare is the [compare] table: defaults of `polytropon compare`.
type Compare struct {
	Threshold float64  `toml:"threshold"` // regression when significantly worse by more than this fraction
	Alpha     float64  `toml:"alpha"`     // significance level
	Metrics   []string `toml:"metrics"`   // metrics to gate on; default [run.main_metric]
	Test      string   `toml:"test"`      // "mann-whitney" (default) or "welch"
}

// Point is one measured configuration: a system, a pool count and one
// value of every sweep.
type Point struct {
	Index      int
	System     string
	Pools      int
	Containers int  // pools.containers at this point
	Noise      bool // noise workloads run at this point
	// NoiseOnly, when set (a "noise" sweep value naming a noise
	// workload), is the only noise workload that runs at this point: the
	// control beside the real noise (sysbench-cpu's borrowed cores
	// beside randomio's I/O).
	NoiseOnly string
	// Params lists system, pools and every sweep's value, in that order;
	// it names the point (see Name).
	Params []Param
}

// Param is one typed parameter of a point.
type Param struct {
	Key   string
	Value any // string, int64, float64 or bool
}

// Name is the point's "key=value/..." name; "/" inside values (system
// "K/K") becomes "_" so the name stays a valid Go sub-benchmark name.
func (p Point) Name() string {
	s := ""
	for i, kv := range p.Params {
		if i > 0 {
			s += "/"
		}
		s += kv.Key + "=" + FormatValue(kv.Value)
	}
	return s
}

// Value returns the point's value of a param key, if it has one.
func (p Point) Value(key string) (any, bool) {
	for _, kv := range p.Params {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// FormatValue formats a param value for names: no spaces, no "/"; the
// same formatting as results.BenchName.
func FormatValue(v any) string { return results.FormatValue(v) }

// Placement is one workload instance at a point: workload Workloads[Workload]
// runs in container Container of pool Pool.
type Placement struct {
	Workload  int
	Pool      int
	Container int
}

// PlotSpecs converts the [[plot]] tables for results.(*Run).DrawPlots.
func (e *Experiment) PlotSpecs() []results.PlotSpec {
	out := make([]results.PlotSpec, len(e.Plots))
	for i, p := range e.Plots {
		out[i] = results.PlotSpec{Kind: p.Kind, X: p.X, Y: p.Y, Series: p.Series, ErrorBars: p.ErrorBars,
			LogY: p.LogY, Title: p.Title, File: p.File}
	}
	return out
}

// Weights are the [tenants] weights as floats (nil without [tenants]), as
// results.Info.Weights stores them.
func (e *Experiment) Weights() []float64 {
	if e.Tenants == nil {
		return nil
	}
	out := make([]float64, len(e.Tenants.Weights))
	for i, w := range e.Tenants.Weights {
		out[i] = float64(w)
	}
	return out
}

// CompareOptions are the [compare] settings for results.Compare.
func (e *Experiment) CompareOptions() results.CompareOptions {
	return results.CompareOptions{Threshold: e.Compare.Threshold, Alpha: e.Compare.Alpha,
		Metrics: e.Compare.Metrics, Test: e.Compare.Test}
}
