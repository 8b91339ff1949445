package cachebench

import (
	"fmt"

	"polytropon/runner/config"
	"polytropon/workloads"
)

// FromExperiment builds a Config from a harness experiment file with a
// [tenants] table: one tenant per pool of its first point (weights from
// [tenants].weights), a shared pool of Σ [tenants].cache (each tenant
// brings its cache reservation), run.warmup and run.duration,
// run.repetitions.min repetitions, and the first main [[workload]] per
// tenant. The settings compared are not taken from [tenants].policy: the
// driver compares them all (see DefaultSettings).
func FromExperiment(path string) (Config, error) {
	exp, err := config.Load(path)
	if err != nil {
		return Config{}, err
	}
	if exp.Tenants == nil {
		return Config{}, fmt.Errorf("%w: %s has no [tenants] table", ErrConfig, path)
	}
	pts := exp.Points()
	if len(pts) == 0 {
		return Config{}, fmt.Errorf("%w: %s has no points", ErrConfig, path)
	}
	pt := pts[0]
	var wl *config.Workload
	for _, w := range exp.Workloads {
		if w.Role == "main" {
			wl = w
			break
		}
	}
	if wl == nil {
		return Config{}, fmt.Errorf("%w: %s has no main workload", ErrConfig, path)
	}
	per := int64(exp.Tenants.Cache)
	if per == 0 {
		per = int64(exp.Pools.Memory) / 2 // the digest's default: 50% of pool memory
	}
	return Config{
		Name:        exp.Name,
		Weights:     append([]int(nil), exp.Tenants.Weights...),
		Capacity:    per * int64(len(exp.Tenants.Weights)),
		Warmup:      exp.Run.Warmup.Duration,
		Duration:    exp.Run.Duration.Duration,
		Repetitions: exp.Run.Repetitions.Min,
		Seed:        exp.Run.Seed,
		NewWorkload: func(int) (workloads.Workload, error) { return wl.DecodeAt(pt) },
	}, nil
}
