package config

import (
	"fmt"
	"os"
	"regexp"
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/internal/units"
	"polytropon/results"
	"polytropon/runner/metrics"
	"polytropon/workloads"
)

// Limits of the schema.
const (
	MaxPools      = 32  // pools per host (the paper's limit)
	MaxContainers = 256 // containers per pool (Fig 8's clones)
	MaxWeight     = 10000
)

// PaperSystems are the system labels of the papers' table 1, plus their
// explicit Ceph-backed variants (docs/ceph.md), accepted when SystemNames is
// nil.
var PaperSystems = []string{"D", "K", "K/K", "F", "FP", "F/F", "FP/FP", "F/K",
	"D-ceph", "F-ceph", "FP-ceph", "K-ceph", "K/K-ceph"}

// SystemNames, when set, lists the system labels Validate accepts; the
// runner sets it to systems.Names. (config does not import systems, which
// pulls in the whole pool and filesystem machinery.)
var SystemNames func() []string

// Defaults (the paper's settings, durations scaled for a small host).
var (
	DefaultRepetitions = Repetitions{Min: 3, Max: 10}
	DefaultCITarget    = 0.05
	DefaultWarmup      = 5 * time.Second
	DefaultDuration    = 20 * time.Second
	DefaultTimeout     = 10 * time.Minute
	DefaultPoolMemory  = units.Size(8 << 30)
)

// EnsureDefaults fills every unset field with its default; calling it twice
// changes nothing.
func (e *Experiment) EnsureDefaults() {
	if e.Backend == "" {
		e.Backend = "local"
	}
	r := &e.Run
	switch {
	case r.Repetitions.Min == 0 && r.Repetitions.Max == 0:
		r.Repetitions = DefaultRepetitions
	case r.Repetitions.Min == 0:
		r.Repetitions.Min = min(DefaultRepetitions.Min, r.Repetitions.Max)
	case r.Repetitions.Max == 0:
		r.Repetitions.Max = max(DefaultRepetitions.Max, r.Repetitions.Min)
	}
	if r.CITarget == 0 {
		r.CITarget = DefaultCITarget
	}
	if r.MainMetric == "" {
		r.MainMetric = results.MetricThroughput
	}
	if r.Warmup.Duration == 0 && !r.warmupSet {
		r.Warmup.Duration = DefaultWarmup
	}
	if r.Duration.Duration == 0 {
		r.Duration.Duration = DefaultDuration
	}
	if r.Timeout.Duration == 0 {
		r.Timeout.Duration = max(DefaultTimeout, 2*(r.Warmup.Duration+r.Duration.Duration))
	}
	if r.Seed == 0 {
		r.Seed = 1
	}
	p := &e.Pools
	if len(p.Count) == 0 {
		p.Count = IntList{1}
	}
	if p.CoresPerPool == 0 {
		p.CoresPerPool = 2
	}
	if p.Memory == 0 {
		p.Memory = DefaultPoolMemory
	}
	if p.Containers == 0 && e.Tenants != nil && len(e.Tenants.Weights) > 1 && len(p.Count) == 1 && p.Count[0] == 1 {
		p.Containers = len(e.Tenants.Weights) // one pool: the tenants are its containers
	}
	if p.Containers == 0 {
		p.Containers = 1
	}
	if e.Backend == "ceph" {
		for _, env := range []string{"CEPH_CONF", "POLYTROPON_CEPH_CONF"} {
			if e.Ceph.Conf == "" {
				e.Ceph.Conf = os.Getenv(env)
			}
		}
		if e.Ceph.User == "" {
			e.Ceph.User = "admin"
		}
	}
	for _, w := range e.Workloads {
		if w.Role == "" {
			w.Role = "main"
		}
		if w.Pools.Keyword == "" && w.Pools.Indexes == nil {
			w.Pools.Keyword = "all"
		}
	}
	if e.Tenants != nil && e.Tenants.Policy == "" {
		e.Tenants.Policy = "conventional"
	}
	for i := range e.Plots {
		pl := &e.Plots[i]
		if pl.Kind == "" {
			pl.Kind = "line"
		}
		if pl.Kind == "proportionality" {
			if pl.X == "" {
				pl.X = "tenant"
			}
			if pl.Y == "" {
				pl.Y = results.MetricThroughput
			}
		}
		if pl.X == "" {
			pl.X = "pools"
		}
		if pl.Y == "" {
			pl.Y = r.MainMetric
		}
		if pl.Series == "" {
			pl.Series = "system"
		}
		if pl.File == "" {
			pl.File = fmt.Sprintf("%s-%d", e.Name, i)
		}
	}
	c := &e.Compare
	if c.Threshold == 0 {
		c.Threshold = 0.05
	}
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if len(c.Metrics) == 0 {
		c.Metrics = []string{r.MainMetric}
	}
	if c.Test == "" {
		c.Test = "mann-whitney"
	}
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// problems collects validation errors, each with its key path and, when
// the key is in the file, its line.
type problems struct {
	src  *source
	errs []error
}

func (p *problems) add(key string, format string, args ...any) {
	where := "(experiment)"
	if p.src != nil {
		where = p.src.at(toml.Key(keyPieces(key)))
	}
	p.errs = append(p.errs, fmt.Errorf("%s: %s: %s", where, key, fmt.Sprintf(format, args...)))
}

// keyPieces turns "workload[1].params.x" into ["workload","params","x"].
func keyPieces(key string) []string {
	var out []string
	cur := ""
	skip := false
	for _, c := range key {
		switch {
		case skip:
			if c == ']' {
				skip = false
			}
		case c == '[':
			skip = true
		case c == '.':
			out = append(out, cur)
			cur = ""
		default:
			cur += string(c)
		}
	}
	return append(out, cur)
}

// Validate checks the experiment (after EnsureDefaults). Names of systems,
// workloads and collectors are checked against their registries when those
// have entries (a binary that links them all); workload params are decoded
// strictly at every point when the workload is registered, and each
// system's options into its options struct when NewSystemOptions is set.
func (e *Experiment) Validate() error {
	p := &problems{src: e.src}
	if !nameRE.MatchString(e.Name) {
		p.add("name", "%q: want a non-empty name of letters, digits, '.', '_' or '-'", e.Name)
	}
	if len(e.Systems) == 0 {
		p.add("systems", "empty: list at least one system under test, e.g. [\"D\", \"K\"]")
	}
	known := PaperSystems
	if SystemNames != nil {
		known = SystemNames()
	}
	for i, s := range e.Systems {
		if len(known) > 0 && !slices.Contains(known, s) {
			p.add(fmt.Sprintf("systems[%d]", i), "unknown system %q (have %v)", s, known)
		}
		if slices.Index(e.Systems, s) != i {
			p.add(fmt.Sprintf("systems[%d]", i), "%q listed twice", s)
		}
	}
	if e.Backend != "local" && e.Backend != "ceph" {
		p.add("backend", "%q: want \"local\" or \"ceph\"", e.Backend)
	}
	// No ceph.conf at all is left to the systems, which then use the
	// cluster of `polytropon ceph up` when there is one; the pre-run check
	// (polytropon doctor) says when there is none.
	for _, s := range sortedKeys(e.Options) {
		if !slices.Contains(e.Systems, s) {
			p.add("options."+s, "options for system %q, which is not in systems %v", s, e.Systems)
		}
	}
	for i, s := range e.Systems {
		if slices.Index(e.Systems, s) == i {
			if _, err := e.decodeOptions(s); err != nil {
				p.errs = append(p.errs, err)
			}
		}
	}
	e.validateRun(p)
	e.validatePools(p)
	e.validateWorkloads(p)
	e.validateSweeps(p)
	e.validateTenants(p)
	e.validatePlots(p)
	e.validateCompare(p)
	if len(p.errs) == 0 {
		e.validatePoints(p)
	}
	if len(p.errs) > 0 {
		return joinInvalid(p.errs)
	}
	return nil
}

func (e *Experiment) validateRun(p *problems) {
	r := e.Run
	if r.Repetitions.Min < 1 {
		p.add("run.repetitions.min", "%d: want at least 1", r.Repetitions.Min)
	}
	if r.Repetitions.Max < r.Repetitions.Min {
		p.add("run.repetitions", "min %d > max %d", r.Repetitions.Min, r.Repetitions.Max)
	}
	if r.CITarget <= 0 || r.CITarget >= 1 {
		p.add("run.ci_target", "%g: want a fraction of the mean in (0, 1), e.g. 0.05", r.CITarget)
	}
	if msg := e.MetricProblem(r.MainMetric); msg != "" {
		p.add("run.main_metric", "%s", msg)
	}
	if r.Duration.Duration <= 0 {
		p.add("run.duration", "must be positive")
	}
	if r.Timeout.Duration <= r.Warmup.Duration+r.Duration.Duration {
		p.add("run.timeout", "%v is not longer than warmup+duration (%v)", r.Timeout.Duration, r.Warmup.Duration+r.Duration.Duration)
	}
	known := metrics.Names()
	for i, c := range r.Collectors {
		if len(known) > 0 && !slices.Contains(known, c) {
			p.add(fmt.Sprintf("run.collectors[%d]", i), "unknown collector %q (have %v)", c, known)
		}
		if slices.Index(r.Collectors, c) != i {
			p.add(fmt.Sprintf("run.collectors[%d]", i), "%q listed twice", c)
		}
	}
}

func (e *Experiment) validatePools(p *problems) {
	for i, n := range e.Pools.Count {
		if n < 1 || n > MaxPools {
			p.add(fmt.Sprintf("pools.count[%d]", i), "%d pools: want 1..%d", n, MaxPools)
		}
	}
	if e.Pools.CoresPerPool < 1 {
		p.add("pools.cores_per_pool", "%d: want at least 1", e.Pools.CoresPerPool)
	}
	if e.Pools.Memory < 64<<20 {
		p.add("pools.memory", "%v: want at least 64MiB", e.Pools.Memory)
	}
	if e.Pools.Containers < 1 || e.Pools.Containers > MaxContainers {
		p.add("pools.containers", "%d: want 1..%d", e.Pools.Containers, MaxContainers)
	}
}

func (e *Experiment) maxPools() int {
	return slices.Max(append([]int{0}, e.Pools.Count...))
}

func (e *Experiment) validateWorkloads(p *problems) {
	if len(e.Workloads) == 0 {
		p.add("workload", "no [[workload]] tables: an experiment needs at least one main workload")
		return
	}
	known := workloads.Names()
	mains := 0
	for i, w := range e.Workloads {
		key := fmt.Sprintf("workload[%d]", i)
		switch {
		case w.Name == "":
			p.add(key+".name", "missing workload name")
		case len(known) > 0 && !slices.Contains(known, w.Name):
			p.add(key+".name", "unknown workload %q (have %v)", w.Name, known)
		}
		switch w.Role {
		case "main":
			mains++
		case "noise":
		default:
			p.add(key+".role", "%q: want \"main\" or \"noise\"", w.Role)
		}
		for _, ix := range w.Pools.Indexes {
			if ix < 0 || ix >= e.maxPools() {
				p.add(key+".pools", "pool index %d out of range: pools are 0..%d", ix, e.maxPools()-1)
			}
		}
		if w.Instances < 0 || w.Instances > MaxContainers {
			p.add(key+".instances", "%d: want 0 (default) .. %d", w.Instances, MaxContainers)
		}
		for j, o := range e.Workloads[:i] {
			if o.Name == w.Name {
				p.add(key+".name", "workload %q already listed as workload[%d]; one table per workload", w.Name, j)
			}
		}
	}
	if mains == 0 {
		p.add("workload", "no workload has role \"main\"")
	}
}

func (e *Experiment) validateSweeps(p *problems) {
	seen := map[string]bool{}
	for i, s := range e.Sweeps {
		key := fmt.Sprintf("sweep[%d]", i)
		if seen[s.Param] {
			p.add(key+".param", "%q swept twice", s.Param)
		}
		seen[s.Param] = true
		if len(s.Values) == 0 {
			p.add(key+".values", "empty")
		}
		switch s.Param {
		case "containers":
			for j, v := range s.Values {
				n, ok := v.(int64)
				if !ok || n < 1 || n > MaxContainers {
					p.add(fmt.Sprintf("%s.values[%d]", key, j), "%v: containers must be an integer 1..%d", v, MaxContainers)
				}
			}
		case "noise":
			for j, v := range s.Values {
				str, isName := v.(string)
				if w := e.workload(str); isName && (w == nil || w.Role != "noise") {
					p.add(fmt.Sprintf("%s.values[%d]", key, j), "%q: noise must be true, false or the name of a noise workload (the only one to run)", str)
				} else if _, ok := v.(bool); !ok && !isName {
					p.add(fmt.Sprintf("%s.values[%d]", key, j), "%v: noise must be true, false or the name of a noise workload", v)
				}
			}
		case "tenants.policy":
			for j, v := range s.Values {
				if str, ok := v.(string); !ok || !slices.Contains(TenantPolicies, str) {
					p.add(fmt.Sprintf("%s.values[%d]", key, j), "%#v: want one of %q", v, TenantPolicies)
				}
			}
			if e.Tenants == nil {
				p.add(key+".param", "%q swept without a [tenants] table", s.Param)
			}
		case "tenants.aging":
			for j, v := range s.Values {
				if _, ok := v.(bool); !ok {
					p.add(fmt.Sprintf("%s.values[%d]", key, j), "%v: aging must be true or false", v)
				}
			}
			if e.Tenants == nil {
				p.add(key+".param", "%q swept without a [tenants] table", s.Param)
			}
		case "system", "pools":
			p.add(key+".param", "%q is swept by %q already", s.Param, map[string]string{"system": "systems", "pools": "pools.count"}[s.Param])
		default:
			wname, param, ok := cutLast(s.Param)
			if !ok || e.workload(wname) == nil {
				p.add(key+".param", "%q: want \"containers\", \"noise\", \"tenants.policy\", \"tenants.aging\" or \"<workload>.<param>\" naming a listed workload", s.Param)
				continue
			}
			if param == "" {
				p.add(key+".param", "%q: missing the param name after the workload", s.Param)
			}
		}
		for j, v := range s.Values {
			switch v.(type) {
			case string, int64, float64, bool:
			default:
				p.add(fmt.Sprintf("%s.values[%d]", key, j), "%v (%T): sweep values must be strings, numbers or booleans", v, v)
			}
		}
	}
}

// cutLast splits "workload.param" at the first dot (workload names have no dots).
func cutLast(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			return s[:i], s[i+1:], true
		}
	}
	return "", "", false
}

func (e *Experiment) workload(name string) *Workload {
	for _, w := range e.Workloads {
		if w.Name == name {
			return w
		}
	}
	return nil
}

func (e *Experiment) validateTenants(p *problems) {
	t := e.Tenants
	if t == nil {
		for i, pl := range e.Plots {
			if pl.Kind == "proportionality" {
				p.add(fmt.Sprintf("plot[%d].kind", i), "proportionality plot needs a [tenants] table with weights")
			}
		}
		return
	}
	if len(t.Weights) == 0 {
		p.add("tenants.weights", "empty: one weight per pool")
	}
	for i, w := range t.Weights {
		if w < 1 || w > MaxWeight {
			p.add(fmt.Sprintf("tenants.weights[%d]", i), "%d: want 1..%d", w, MaxWeight)
		}
	}
	if e.TenantContainers() {
		e.validateTenantContainers(p)
	} else {
		for _, n := range e.Pools.Count {
			if len(t.Weights) > 0 && n != len(t.Weights) {
				p.add("tenants.weights", "%d weights for %d pools: want one weight per pool (tenant i is pool i), or pools.count = [1] with pools.containers = %d (tenant i is container i of the one pool, sharing its cache)", len(t.Weights), n, len(t.Weights))
			}
		}
	}
	if t.Cache < 0 || (t.Cache > 0 && t.Cache > e.Pools.Memory) {
		p.add("tenants.cache", "%v: want 0 (default) up to pools.memory (%v)", t.Cache, e.Pools.Memory)
	}
	if !slices.Contains(TenantPolicies, t.Policy) {
		p.add("tenants.policy", "%q: want \"conventional\", \"direct\" or \"justitia\"", t.Policy)
	}
	if t.Slots < 0 {
		p.add("tenants.slots", "%d: want 0 (default: 1, the allocation lock) or more", t.Slots)
	}
}

// validateTenantContainers checks the layout of container tenants: tenant
// i is container i of the one pool, so that pool holds exactly the one
// main workload's instances.
func (e *Experiment) validateTenantContainers(p *problems) {
	for i, s := range e.Sweeps {
		if s.Param == "containers" {
			p.add(fmt.Sprintf("sweep[%d].param", i), "containers cannot be swept when the tenants are the containers (one per [tenants] weight)")
		}
	}
	mains := 0
	for i, w := range e.Workloads {
		if w.Role == "noise" {
			p.add(fmt.Sprintf("workload[%d].role", i), "noise workloads would take tenant containers: not supported when the tenants are the containers")
			continue
		}
		mains++
		if w.Instances != 0 && w.Instances != len(e.Tenants.Weights) {
			p.add(fmt.Sprintf("workload[%d].instances", i), "%d: the tenants are the containers; leave instances out (one per [tenants] weight)", w.Instances)
		}
	}
	if mains > 1 {
		p.add("workload", "%d main workloads: tenants as containers need exactly one", mains)
	}
}

// Axes lists the names a plot can use as x or series: "system", "pools",
// and every swept param.
func (e *Experiment) Axes() []string {
	axes := []string{"system", "pools"}
	for _, s := range e.Sweeps {
		axes = append(axes, s.Param)
	}
	return axes
}

func (e *Experiment) validatePlots(p *problems) {
	files := map[string]int{}
	axes := e.Axes()
	for i, pl := range e.Plots {
		key := fmt.Sprintf("plot[%d]", i)
		switch pl.Kind {
		case "line", "bar", "breakdown":
			if !slices.Contains(axes, pl.X) {
				p.add(key+".x", "%q: want one of %v", pl.X, axes)
			}
			if !slices.Contains(axes, pl.Series) {
				p.add(key+".series", "%q: want one of %v", pl.Series, axes)
			}
			if pl.X == pl.Series {
				p.add(key+".series", "%q is also the x axis", pl.Series)
			}
		case "proportionality":
		default:
			p.add(key+".kind", "%q: want \"line\", \"bar\", \"breakdown\" or \"proportionality\"", pl.Kind)
		}
		if msg := e.metricProblem(pl.Y, pl.Kind == "breakdown"); msg != "" { // a breakdown draws every series
			p.add(key+".y", "%s", msg)
		}
		if !nameRE.MatchString(pl.File) {
			p.add(key+".file", "%q: want a base name of letters, digits, '.', '_' or '-'", pl.File)
		} else if j, dup := files[pl.File]; dup {
			p.add(key+".file", "%q already used by plot[%d]", pl.File, j)
		}
		files[pl.File] = i
	}
}

func (e *Experiment) validateCompare(p *problems) {
	c := e.Compare
	if c.Threshold < 0 || c.Threshold >= 10 {
		p.add("compare.threshold", "%g: want a fraction >= 0, e.g. 0.05", c.Threshold)
	}
	if c.Alpha <= 0 || c.Alpha >= 1 {
		p.add("compare.alpha", "%g: want a significance level in (0, 1), e.g. 0.05", c.Alpha)
	}
	for i, m := range c.Metrics {
		if msg := e.MetricProblem(m); msg != "" && m != e.Run.MainMetric { // an unknown main metric is reported once, under run
			p.add(fmt.Sprintf("compare.metrics[%d]", i), "%s", msg)
		}
	}
	if c.Test != "mann-whitney" && c.Test != "welch" {
		p.add("compare.test", "%q: want \"mann-whitney\" or \"welch\"", c.Test)
	}
}

// validatePoints decodes every registered workload at every point, so a
// bad param or sweep value fails before anything runs.
func (e *Experiment) validatePoints(p *problems) {
	known := workloads.Names()
	seen := map[string]bool{}
	for _, pt := range e.Points() {
		for _, w := range e.Workloads {
			if !slices.Contains(known, w.Name) {
				continue
			}
			if _, err := w.decode(w.overrides(pt)); err != nil {
				if msg := err.Error(); !seen[msg] {
					seen[msg] = true
					p.errs = append(p.errs, err)
				}
			}
		}
	}
}
