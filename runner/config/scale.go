package config

import (
	"fmt"
	"maps"
	"slices"

	"polytropon/internal/units"
)

// Scales: one experiment file holds a figure at three sizes. Its body is
// the "host" scale (what fits a 2-vCPU 24 GiB host); [scale.paper] and
// [scale.smoke] override parts of it: the paper's parameters, and seconds
// per point for CI. `polytropon run -scale smoke FILE` applies one.
//
//	[scale.smoke]
//	why = "CI: 1 repetition of 2 s per point, 1-2 pools, 8 MiB per instance"
//	run = { repetitions = { min = 1, max = 1 }, warmup = "0s", duration = "2s" }
//	pools = { count = [1, 2], memory = "512MiB" }
//	params.rocksdb = { total_bytes = "8MiB" }   # by workload name, over [workload.params]
//	sweep.containers = [1, 2]                   # by param, replaces the [[sweep]]'s values

// Scale names.
const (
	ScaleSmoke = "smoke"
	ScaleHost  = "host"
	ScalePaper = "paper"
)

// ScaleNames are the scales in increasing size.
var ScaleNames = []string{ScaleSmoke, ScaleHost, ScalePaper}

// Scale is one [scale.<name>] table: what differs from the file's body.
// Unset fields keep the body's value.
type Scale struct {
	// Why says what this scale changed and why (required).
	Why   string     `toml:"why"`
	Run   ScaleRun   `toml:"run"`
	Pools ScalePools `toml:"pools"`
	// Params override keys of a workload's [workload.params], by workload
	// name.
	Params map[string]map[string]any `toml:"params"`
	// Sweep replaces the values of the [[sweep]] of a param.
	Sweep map[string][]any `toml:"sweep"`
}

// ScaleRun overrides keys of [run].
type ScaleRun struct {
	Repetitions *Repetitions `toml:"repetitions"`
	CITarget    *float64     `toml:"ci_target"`
	Warmup      *Duration    `toml:"warmup"`
	Duration    *Duration    `toml:"duration"`
	Timeout     *Duration    `toml:"timeout"`
	DropCaches  *bool        `toml:"drop_caches"`
}

// ScalePools overrides keys of [pools].
type ScalePools struct {
	Count         IntList     `toml:"count"`
	CoresPerPool  *int        `toml:"cores_per_pool"`
	Memory        *units.Size `toml:"memory"`
	Containers    *int        `toml:"containers"`
	Oversubscribe *bool       `toml:"oversubscribe"`
}

// LoadScale is Load at a scale: the file's body for "host" (or ""), the
// body with [scale.<name>] applied otherwise.
func LoadScale(path, scale string) (*Experiment, error) {
	e, err := Decode(path)
	if err != nil {
		return nil, err
	}
	if err := e.ApplyScale(scale); err != nil {
		return nil, err
	}
	e.EnsureDefaults()
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// ApplyScale applies [scale.<name>] to the decoded body (before
// EnsureDefaults). Every scale table of the file is checked, whichever
// is applied. A file without the table runs its body at that scale:
// "host" is the body by definition, and a file that has no [scale.smoke]
// is small enough already.
func (e *Experiment) ApplyScale(name string) error {
	if name == "" {
		name = ScaleHost
	}
	if !slices.Contains(ScaleNames, name) {
		return fmt.Errorf("%w: unknown scale %q (have %v)", ErrInvalid, name, ScaleNames)
	}
	p := &problems{src: e.src}
	for _, n := range slices.Sorted(maps.Keys(e.Scales)) {
		e.checkScale(p, n, e.Scales[n])
	}
	if len(p.errs) > 0 {
		return joinInvalid(p.errs)
	}
	e.ScaleName = name
	s := e.Scales[name]
	if s == nil || name == ScaleHost {
		return nil
	}
	r := &e.Run
	set(&r.Repetitions, s.Run.Repetitions)
	set(&r.CITarget, s.Run.CITarget)
	set(&r.Warmup, s.Run.Warmup)
	r.warmupSet = r.warmupSet || s.Run.Warmup != nil
	set(&r.Duration, s.Run.Duration)
	set(&r.Timeout, s.Run.Timeout)
	set(&r.DropCaches, s.Run.DropCaches)
	pl := &e.Pools
	if s.Pools.Count != nil {
		pl.Count = s.Pools.Count
	}
	set(&pl.CoresPerPool, s.Pools.CoresPerPool)
	set(&pl.Memory, s.Pools.Memory)
	set(&pl.Containers, s.Pools.Containers)
	set(&pl.Oversubscribe, s.Pools.Oversubscribe)
	for wname, params := range s.Params {
		for _, w := range e.Workloads {
			if w.Name != wname {
				continue
			}
			if w.Params == nil {
				w.Params = map[string]any{}
			}
			maps.Copy(w.Params, params)
		}
	}
	for param, values := range s.Sweep {
		for i := range e.Sweeps {
			if e.Sweeps[i].Param == param {
				e.Sweeps[i].Values = values
			}
		}
	}
	return nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// checkScale reports what a scale table names that the file lacks; the
// values themselves are checked by Validate once the scale is applied.
func (e *Experiment) checkScale(p *problems, name string, s *Scale) {
	key := "scale." + name
	if !slices.Contains(ScaleNames, name) {
		p.add(key, "unknown scale %q (have %v)", name, ScaleNames)
		return
	}
	if name == ScaleHost {
		p.add(key, "the file's body is the host scale: write host values there, not in [scale.host]")
		return
	}
	if s.Why == "" {
		p.add(key+".why", "missing: say what this scale changes and why")
	}
	for _, wname := range slices.Sorted(maps.Keys(s.Params)) {
		if e.workload(wname) == nil {
			p.add(key+".params."+wname, "no [[workload]] named %q in this file", wname)
		}
	}
	for _, param := range slices.Sorted(maps.Keys(s.Sweep)) {
		if !slices.ContainsFunc(e.Sweeps, func(sw Sweep) bool { return sw.Param == param }) {
			p.add(key+".sweep."+param, "no [[sweep]] of %q in this file", param)
		}
	}
}
