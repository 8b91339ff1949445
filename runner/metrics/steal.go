package metrics

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"polytropon/results"
)

// steal: CPU steal per pool as the papers mean it: time that other tenants
// or the kernel ran on the pool's reserved cores. Not the steal column of
// /proc/stat (that is hypervisor steal).
//
// cgroup v1: for each core c of pool P,
//
//	steal[c] = Δ(root cpuacct.usage_percpu[c]) − Δ(P's cpuacct.usage_percpu[c])
//
// (the root cpuacct counts every task, kernel threads included).
//
// cgroup v2 has no per-CPU usage per cgroup. The analogue is
//
//	steal = Σ_{c ∈ cores(P)} Δbusy[c] (from /proc/stat) − Δ(P's cpu.stat usage_usec)
//
// which equals the v1 sum when the pool's cpuset keeps it on its cores
// (no per-core breakdown; /proc/stat has 10 ms resolution). Values below
// zero (rounding) are reported as zero.
//
// Metrics per pool: cpu_steal_seconds, cpu_steal_ratio (of window × cores),
// pool_cores_busy_seconds; on v1 also cpu_steal_core_seconds (label core).

func init() {
	Register("steal", func() Collector { return &stealCollector{} })
	Declare("steal",
		results.MetricDecl{Name: "cpu_steal_core_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"core"}},
		results.MetricDecl{Name: "cpu_steal_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "cpu_steal_ratio", Unit: "ratio", Agg: results.AggMean},
		results.MetricDecl{Name: "pool_cores_busy_seconds", Unit: "s", Agg: results.AggSum},
	)
}

type stealCollector struct {
	o      *overhead
	target Target
	start  time.Time
	root0  []uint64         // v1 root cpuacct.usage_percpu (nil: v2 or no v1 cpuacct)
	stat0  map[int]cpuTimes // /proc/stat, for v2 pools
	pool0  []stealSnap
}

type stealSnap struct {
	percpu []uint64 // v1
	usage  float64  // v2, seconds
	ok     bool
}

func (s *stealCollector) Name() string { return "steal" }

func rootPercpuPath() string { return filepath.Join(CgroupRoot, "cpuacct", "cpuacct.usage_percpu") }

func readStealSnap(p PoolTarget) stealSnap {
	if dir := p.CgroupV1["cpuacct"]; dir != "" {
		v, err := readUints(filepath.Join(dir, "cpuacct.usage_percpu"))
		return stealSnap{percpu: v, ok: err == nil}
	}
	if p.CgroupV2 != "" {
		st, err := readKV(filepath.Join(p.CgroupV2, "cpu.stat"))
		if _, has := st["usage_usec"]; err == nil && has {
			return stealSnap{usage: float64(st["usage_usec"]) / 1e6, ok: true}
		}
	}
	return stealSnap{}
}

func (s *stealCollector) Start(ctx context.Context, t Target) (err error) {
	s.o = newOverhead("steal")
	s.target = t
	s.o.measure(func() {
		s.start = time.Now()
		s.root0, _ = readUints(rootPercpuPath())
		s.stat0, _ = readProcStat()
		usable := false
		for _, p := range t.Pools {
			snap := readStealSnap(p)
			s.pool0 = append(s.pool0, snap)
			usable = usable || snap.ok && (snap.percpu != nil && s.root0 != nil || snap.percpu == nil && s.stat0 != nil)
		}
		if !usable {
			err = fmt.Errorf("%w: steal: no per-pool CPU accounting (cpuacct or cpu.stat) for any pool", ErrNoData)
		}
	})
	s.o.started(0)
	return err
}

func (s *stealCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if s.o == nil {
		return nil, fmt.Errorf("metrics: steal: Stop without Start")
	}
	s.o.measure(func() {
		window := time.Since(s.start).Seconds()
		root1, _ := readUints(rootPercpuPath())
		stat1, _ := readProcStat()
		for i, p := range s.target.Pools {
			a, b := s.pool0[i], readStealSnap(p)
			if !a.ok || !b.ok {
				continue
			}
			var steal, busy float64
			if a.percpu != nil {
				if s.root0 == nil || root1 == nil {
					continue
				}
				for _, c := range p.Cores {
					if c >= len(root1) || c >= len(s.root0) || c >= len(a.percpu) || c >= len(b.percpu) {
						continue
					}
					dRoot := float64(root1[c]-s.root0[c]) / 1e9
					dPool := float64(b.percpu[c]-a.percpu[c]) / 1e9
					coreSteal := max(dRoot-dPool, 0)
					steal += coreSteal
					busy += dRoot
					ms = append(ms, Metric{Pool: p.Name, Name: "cpu_steal_core_seconds", Unit: "s", Value: coreSteal,
						Labels: map[string]string{"core": strconv.Itoa(c)}})
				}
			} else {
				if s.stat0 == nil || stat1 == nil {
					continue
				}
				for _, c := range p.Cores {
					busy += stat1[c].busy() - s.stat0[c].busy()
				}
				steal = max(busy-(b.usage-a.usage), 0)
			}
			ms = append(ms,
				Metric{Pool: p.Name, Name: "cpu_steal_seconds", Unit: "s", Value: steal},
				Metric{Pool: p.Name, Name: "cpu_steal_ratio", Unit: "ratio", Value: safeDiv(steal, window*float64(len(p.Cores)))},
				Metric{Pool: p.Name, Name: "pool_cores_busy_seconds", Unit: "s", Value: busy},
			)
		}
	})
	return append(ms, s.o.metrics()...), err
}
