package runner

import (
	"context"
	"errors"
	"strings"
	"time"

	"polytropon/runner/metrics"
)

// The collectors of a repetition's measured window.

type runningCollector struct {
	name string
	c    metrics.Collector
}

func (rp *rep) target() metrics.Target {
	var t metrics.Target
	for i, p := range rp.pools {
		t.Pools = append(t.Pools, metrics.TargetPool(p))
		if i < len(rp.instances) {
			if sp, ok := rp.instances[i].(ServicePIDer); ok {
				t.ServicePIDs = append(t.ServicePIDs, sp.ServicePIDs()...)
			}
		}
	}
	return t
}

func (rp *rep) startCollectors(ctx context.Context) []runningCollector {
	t := rp.target()
	var out []runningCollector
	for _, name := range rp.r.collectors {
		c, err := metrics.New(name)
		if err != nil {
			rp.note("collector %s: %v", name, err)
			continue
		}
		if err := c.Start(ctx, t); err != nil {
			if errors.Is(err, metrics.ErrNoData) {
				// "metrics: no data on this host: userlock: why" reads
				// better as "collector userlock: no data: why".
				why := strings.TrimPrefix(err.Error(), metrics.ErrNoData.Error()+": ")
				rp.note("collector %s: no data: %s", name, strings.TrimPrefix(why, name+": "))
			} else {
				rp.note("collector %s: %v", name, err)
			}
			continue
		}
		out = append(out, runningCollector{name, c})
	}
	return out
}

func (rp *rep) stopCollectors(ctx context.Context, cols []runningCollector) []metrics.Metric {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	var all []metrics.Metric
	for _, rc := range cols {
		ms, err := rc.c.Stop(ctx)
		if err != nil {
			rp.note("collector %s: %v", rc.name, err)
		}
		all = append(all, ms...)
	}
	return all
}
