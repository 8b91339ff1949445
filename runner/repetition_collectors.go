package runner

import (
	"context"
	"errors"
	"sort"
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
	var made []runningCollector
	for _, name := range rp.r.collectors {
		c, err := metrics.New(name)
		if err != nil {
			rp.note("collector %s: %v", name, err)
			continue
		}
		made = append(made, runningCollector{name, c})
	}
	var out []runningCollector
	for _, rc := range startOrder(made) {
		name, c := rc.name, rc.c
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
	// In reverse start order: each window lies within the ones opened
	// before it.
	got := make([][]metrics.Metric, len(cols))
	for i := len(cols) - 1; i >= 0; i-- {
		ms, err := cols[i].c.Stop(ctx)
		if err != nil {
			rp.note("collector %s: %v", cols[i].name, err)
		}
		got[i] = ms
	}
	var all []metrics.Metric
	for _, ms := range got {
		all = append(all, ms...)
	}
	return all
}

// startOrder is the order collectors start in (stopCollectors stops them
// in reverse): slow starters first, so that their windows hold the
// others' and their start-up runs before the others' windows open; an
// Encloser last among them and right before the collector it encloses.
func startOrder(cols []runningCollector) []runningCollector {
	cols = append([]runningCollector(nil), cols...)
	rank := func(c metrics.Collector) int {
		switch {
		case metrics.SlowStart(c) && metrics.Encloses(c) == "":
			return 0
		case metrics.SlowStart(c):
			return 1 // last of the slow ones: no other start-up inside
		}
		return 2
	}
	sort.SliceStable(cols, func(i, j int) bool { return rank(cols[i].c) < rank(cols[j].c) })
	return encloseAdjacent(cols)
}

// encloseAdjacent moves the collector each Encloser names right after it,
// so that their windows open and close back to back.
func encloseAdjacent(cols []runningCollector) []runningCollector {
	for i := 0; i < len(cols); i++ {
		inner := metrics.Encloses(cols[i].c)
		if inner == "" {
			continue
		}
		for j := range cols {
			if j != i && cols[j].name == inner {
				rc := cols[j]
				rest := append(append([]runningCollector{}, cols[:j]...), cols[j+1:]...)
				at := i + 1
				if j < i {
					at = i
				}
				cols = append(rest[:at], append([]runningCollector{rc}, rest[at:]...)...)
				break
			}
		}
	}
	return cols
}
