package config

import (
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/BurntSushi/toml"

	"polytropon/workloads"
)

// Points expands the experiment into its points: systems × pools.count ×
// every sweep, in file order, the last sweep varying fastest. Call after
// EnsureDefaults.
func (e *Experiment) Points() []Point {
	var out []Point
	base := Point{Containers: e.Pools.Containers, Noise: true}
	for _, sys := range e.Systems {
		for _, n := range e.Pools.Count {
			p := base
			p.System, p.Pools = sys, n
			p.Params = []Param{{"system", sys}, {"pools", int64(n)}}
			out = e.expand(out, p, 0)
		}
	}
	for i := range out {
		out[i].Index = i
	}
	return out
}

func (e *Experiment) expand(out []Point, p Point, sweep int) []Point {
	if sweep == len(e.Sweeps) {
		return append(out, p)
	}
	s := e.Sweeps[sweep]
	for _, v := range s.Values {
		q := p
		q.Params = append(append([]Param(nil), p.Params...), Param{s.Param, v})
		switch s.Param {
		case "containers":
			if n, ok := v.(int64); ok {
				q.Containers = int(n)
			}
		case "noise":
			switch x := v.(type) {
			case bool:
				q.Noise = x
			case string:
				q.Noise, q.NoiseOnly = true, x
			}
		}
		out = e.expand(out, q, sweep+1)
	}
	return out
}

// Instances is how many containers workload w gets in each of its pools at
// point p (0 when it does not run there).
func (e *Experiment) Instances(w *Workload, p Point) int {
	if w.Role == "noise" && (!p.Noise || p.NoiseOnly != "" && p.NoiseOnly != w.Name) {
		return 0
	}
	if w.Instances > 0 {
		return w.Instances
	}
	if w.Role == "noise" {
		return 1
	}
	return p.Containers
}

// Layout places the workload instances of point p in containers: in each
// pool, the workloads that select it take consecutive container indexes in
// [[workload]] order. ContainersIn gives each pool's container count.
func (e *Experiment) Layout(p Point) []Placement {
	var out []Placement
	next := make([]int, p.Pools)
	for wi, w := range e.Workloads {
		n := e.Instances(w, p)
		for _, pool := range w.Pools.Select(p.Pools) {
			for range n {
				out = append(out, Placement{Workload: wi, Pool: pool, Container: next[pool]})
				next[pool]++
			}
		}
	}
	return out
}

// ContainersIn is the number of containers pool i needs at point p.
func (e *Experiment) ContainersIn(p Point, pool int) int {
	n := 0
	for _, pl := range e.Layout(p) {
		if pl.Pool == pool {
			n++
		}
	}
	return n
}

// Index is the workload's position in the experiment's [[workload]] list.
func (w *Workload) Index() int { return w.index }

// Decode returns the registered workload configured from the params table
// (strictly: an unknown param key is an error naming it) and validated.
func (w *Workload) Decode() (workloads.Workload, error) {
	return wrapInvalid(w.decode(nil))
}

// DecodeAt is Decode with the point's "<workload>.<param>" sweep values
// applied over the params table.
func (w *Workload) DecodeAt(p Point) (workloads.Workload, error) {
	over := w.overrides(p)
	return wrapInvalid(w.decode(over))
}

// overrides are the point's sweep values of this workload's params.
func (w *Workload) overrides(p Point) map[string]any {
	var over map[string]any
	for _, kv := range p.Params {
		if name, param, ok := cutLast(kv.Key); ok && name == w.Name {
			if over == nil {
				over = map[string]any{}
			}
			over[param] = kv.Value
		}
	}
	return over
}

func wrapInvalid(wl workloads.Workload, err error) (workloads.Workload, error) {
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return wl, nil
}

// decode decodes the raw params (with overrides) into a fresh workload
// strictly (decodeTable). The raw map (rather than a toml.Primitive) lets
// sweeps override params and keeps Decode safe for concurrent use; line
// numbers come from the original file.
func (w *Workload) decode(over map[string]any) (workloads.Workload, error) {
	key := fmt.Sprintf("workload[%d]", w.index)
	where := func(sub ...string) string {
		if w.exp == nil || w.exp.src == nil {
			return "(experiment)"
		}
		return w.exp.src.at(append(toml.Key{"workload", "params"}, sub...))
	}
	wl, err := workloads.New(w.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: %s.name: %v", where(), key, err)
	}
	params := maps.Clone(w.Params)
	if params == nil {
		params = map[string]any{}
	}
	maps.Copy(params, over)
	undecoded, err := decodeTable(params, wl)
	var te *tableError
	if errors.As(err, &te) {
		last, msg := te.key, te.msg
		if last == "" {
			return nil, fmt.Errorf("%s: %s.params: %s", where(), key, msg)
		}
		if _, isOverride := over[strings.Split(last, ".")[0]]; isOverride {
			return nil, fmt.Errorf("%s: sweep of %s.%s: %s", w.exp.src.at(toml.Key{"sweep", "values"}), w.Name, last, msg)
		}
		return nil, fmt.Errorf("%s: %s.params.%s: %s", where(strings.Split(last, ".")...), key, last, msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s.params: %v", where(), key, err)
	}
	var errs []error
	for _, k := range undecoded {
		if _, isOverride := over[k[0]]; isOverride {
			errs = append(errs, fmt.Errorf("%s: sweep of %s.%s: workload %q has no param %q", w.exp.src.at(toml.Key{"sweep", "param"}), w.Name, k, w.Name, k.String()))
			continue
		}
		errs = append(errs, fmt.Errorf("%s: %s.params.%s: unknown param of workload %q", where(k...), key, k, w.Name))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if err := wl.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %s.params: workload %q: %v", where(), key, w.Name, err)
	}
	return wl, nil
}
