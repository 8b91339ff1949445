package config

import (
	"context"
	"errors"

	"polytropon/internal/units"
	"polytropon/results"
	"polytropon/runner/metrics"
	"polytropon/workloads"
)

// fakeIO is a small registered workload so decoding of params can be
// tested without the real workloads.
type fakeIO struct {
	Threads  int     `toml:"threads"`
	FileSize string  `toml:"file_size"`
	ReadFrac float64 `toml:"read_fraction"`
	Direct   bool    `toml:"direct"`
}

func (*fakeIO) Name() string { return "fakeio" }
func (f *fakeIO) Validate() error {
	if f.Threads < 1 {
		return errors.New("threads must be at least 1")
	}
	return nil
}
func (*fakeIO) Prepare(context.Context, *workloads.Env) error { return nil }
func (*fakeIO) Run(context.Context, *workloads.Env) (*workloads.Result, error) {
	return &workloads.Result{}, nil
}

// fakeOptions are the options of the systems "D" and "K/K" in these
// tests, shaped like the real ones: typed keys, keys of an embedded
// struct, a struct of prefixed keys and a map of open-ended prefixed keys.
type fakeOptions struct {
	Cache   units.Size `toml:"cache"`
	Threads int        `toml:"threads"`
	fakeService
	Layer  fakeLayer      `toml:"-" prefix:"cache_"`
	Client map[string]any `toml:"-" prefix:"client_ rados_"`
}

type fakeService struct {
	Pin  bool   `toml:"pin"`
	Wait string `toml:"wait"`
}

type fakeLayer struct {
	Capacity     units.Size `toml:"capacity"`
	WriteThrough bool       `toml:"write_through"`
}

func (o *fakeOptions) Validate() error {
	if o.Threads < 1 {
		return errors.New("threads must be at least 1")
	}
	return nil
}

type fakeCollector struct{}

func (fakeCollector) Name() string                                   { return "fakecpu" }
func (fakeCollector) Start(context.Context, metrics.Target) error    { return nil }
func (fakeCollector) Stop(context.Context) ([]metrics.Metric, error) { return nil, nil }

func init() {
	workloads.Register("fakeio", func() workloads.Workload { return &fakeIO{Threads: 1, FileSize: "1MiB"} })
	workloads.Register("fakenoise", func() workloads.Workload { return &fakeIO{Threads: 2} })
	metrics.Register("fakecpu", func() metrics.Collector { return fakeCollector{} })
	metrics.Declare("fakecpu", results.MetricDecl{Name: "fake_cpu_seconds", Unit: "s"})
	NewSystemOptions = func(system string) any {
		switch system {
		case "D", "K/K":
			return &fakeOptions{Threads: 1, fakeService: fakeService{Pin: true}}
		}
		return nil // K-ceph and others: no options
	}
}
