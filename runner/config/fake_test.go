package config

import (
	"context"
	"errors"

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

type fakeCollector struct{}

func (fakeCollector) Name() string                                   { return "fakecpu" }
func (fakeCollector) Start(context.Context, metrics.Target) error    { return nil }
func (fakeCollector) Stop(context.Context) ([]metrics.Metric, error) { return nil, nil }

func init() {
	workloads.Register("fakeio", func() workloads.Workload { return &fakeIO{Threads: 1, FileSize: "1MiB"} })
	workloads.Register("fakenoise", func() workloads.Workload { return &fakeIO{Threads: 2} })
	metrics.Register("fakecpu", func() metrics.Collector { return fakeCollector{} })
}
