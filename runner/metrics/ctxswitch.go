package metrics

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"polytropon/results"
)

// ctxswitch: voluntary and involuntary context switches of each pool's
// threads, from voluntary_ctxt_switches / nonvoluntary_ctxt_switches in
// /proc/<pid>/task/<tid>/status. The processes come from the pool's
// cgroup.procs, so children the pool's programs fork are included. Threads
// are sampled every second: one that exits between two samples loses at
// most one second of counts.

func init() {
	Register("ctxswitch", func() Collector { return &ctxswitchCollector{} })
	Declare("ctxswitch",
		results.MetricDecl{Name: "ctx_switches_voluntary", Unit: "count", Agg: results.AggSum},
		results.MetricDecl{Name: "ctx_switches_involuntary", Unit: "count", Agg: results.AggSum},
	)
}

type ctxswitchCollector struct {
	o       *overhead
	target  Target
	sampler *taskSampler
}

func (c *ctxswitchCollector) Name() string { return "ctxswitch" }

func readCtxSwitches(pid, tid int) ([]uint64, bool) {
	b, err := os.ReadFile(taskPath(pid, tid, "status"))
	if err != nil {
		return nil, false
	}
	v := make([]uint64, 2)
	for _, line := range strings.Split(string(b), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(strings.TrimSpace(val), 10, 64)
		switch key {
		case "voluntary_ctxt_switches":
			v[0] = n
		case "nonvoluntary_ctxt_switches":
			v[1] = n
		}
	}
	return v, true
}

func (c *ctxswitchCollector) Start(ctx context.Context, t Target) error {
	c.o = newOverhead("ctxswitch")
	c.target = t
	if len(t.Pools) == 0 {
		return fmt.Errorf("%w: ctxswitch: no pools", ErrNoData)
	}
	c.o.measure(func() { c.sampler = newTaskSampler(t.Pools, time.Second, readCtxSwitches) })
	c.o.goroutine(c.sampler.run)
	c.o.started(0)
	return nil
}

func (c *ctxswitchCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.sampler == nil {
		return nil, fmt.Errorf("metrics: ctxswitch: Stop without Start")
	}
	c.o.measure(func() {
		d := c.sampler.finish(2)
		for i, p := range c.target.Pools {
			ms = append(ms,
				Metric{Pool: p.Name, Name: "ctx_switches_voluntary", Unit: "count", Value: float64(d[i][0])},
				Metric{Pool: p.Name, Name: "ctx_switches_involuntary", Unit: "count", Value: float64(d[i][1])},
			)
		}
	})
	return append(ms, c.o.metrics()...), nil
}
