package metrics

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"polytropon/results"
)

// cpu: per-pool CPU time (user/system), per-core busy and I/O-wait time,
// and I/O wait per pool.
//
// Per-pool CPU comes from the cgroup: cpuacct.usage and cpuacct.stat on
// cgroup v1, cpu.stat (usage_usec, user_usec, system_usec) on v2.
//
// I/O wait per pool has two readings, because cgroup v1 has no per-cgroup
// iowait:
//   - pool_cores_iowait_seconds: the iowait column of /proc/stat summed over
//     the pool's cores (the kernel charges iowait to the idle CPU a task
//     blocked on, so it is the pool's view when pools own their cores);
//   - iowait_delay_seconds: the block-I/O delay of the pool's threads,
//     field 42 (delayacct_blkio_ticks) of /proc/<pid>/task/<tid>/stat,
//     sampled every second, summed over threads (thread-seconds: 50
//     threads blocked for 10 s are 500 s). It needs delay accounting,
//     which the kernel keeps only for tasks forked while
//     kernel.task_delayacct is 1 (the others read 0), so the runner holds
//     it on for the whole run (HoldDelayAccounting) and the collector
//     switches it on for its window when nobody did. A task blocked when
//     the switch turns on adds, when it wakes, the time since its last
//     block started under the switch (since boot for a task that never
//     blocked under it): the 3360 s once reported for a 15 s window. So
//     a thread's increment between two samples larger than the wall time
//     between them is dropped.
//
// Host-wide: host_iowait_seconds and per-core cpu_core_busy_seconds /
// cpu_core_iowait_seconds from /proc/stat.

func init() {
	Register("cpu", func() Collector { return &cpuCollector{} })
	Declare("cpu",
		results.MetricDecl{Name: "host_iowait_seconds", Unit: "s", Scope: results.ScopeHost},
		results.MetricDecl{Name: "host_iowait_ratio", Unit: "ratio", Scope: results.ScopeHost},
		results.MetricDecl{Name: "host_cpu_busy_seconds", Unit: "s", Scope: results.ScopeHost},
		results.MetricDecl{Name: "cpu_core_busy_seconds", Unit: "s", Scope: results.ScopeHost, Labels: []string{"core"}},
		results.MetricDecl{Name: "cpu_core_iowait_seconds", Unit: "s", Scope: results.ScopeHost, Labels: []string{"core"}},
		results.MetricDecl{Name: "pool_cores_iowait_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "iowait_delay_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "cpu_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "cpu_user_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "cpu_system_seconds", Unit: "s", Agg: results.AggSum},
		results.MetricDecl{Name: "cpu_cores_used", Unit: "cores", Agg: results.AggSum},
	)
}

type cpuCollector struct {
	o         *overhead
	target    Target
	start     time.Time
	host0     map[int]cpuTimes
	pools0    []poolCPU
	sampler   *taskSampler
	delayacct bool // holds a reference on kernel.task_delayacct
}

// cpuTimes is one /proc/stat cpu line, in seconds.
type cpuTimes struct {
	user, nice, system, idle, iowait, irq, softirq, steal float64
}

func (c cpuTimes) busy() float64 {
	return c.user + c.nice + c.system + c.irq + c.softirq + c.steal
}

// readProcStat returns the per-CPU lines of /proc/stat; key -1 is the
// "cpu" total line.
func readProcStat() (map[int]cpuTimes, error) {
	b, err := os.ReadFile(procPath("stat"))
	if err != nil {
		return nil, err
	}
	out := map[int]cpuTimes{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		id := -1
		if f[0] != "cpu" {
			if id, err = strconv.Atoi(f[0][3:]); err != nil {
				continue
			}
		}
		v := make([]float64, 8)
		for i := range v {
			n, _ := strconv.ParseUint(f[i+1], 10, 64)
			v[i] = float64(n) / userHZ
		}
		out[id] = cpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics: %s: no cpu lines", procPath("stat"))
	}
	return out, nil
}

// poolCPU is a pool's cumulative CPU time in seconds.
type poolCPU struct {
	usage, user, system float64
	ok                  bool
}

func readPoolCPU(p PoolTarget) poolCPU {
	if dir := p.CgroupV1["cpuacct"]; dir != "" {
		usage, err := readUint(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			return poolCPU{}
		}
		st, _ := readKV(filepath.Join(dir, "cpuacct.stat"))
		return poolCPU{usage: float64(usage) / 1e9, user: float64(st["user"]) / userHZ, system: float64(st["system"]) / userHZ, ok: true}
	}
	if p.CgroupV2 != "" {
		st, err := readKV(filepath.Join(p.CgroupV2, "cpu.stat"))
		if err != nil {
			return poolCPU{}
		}
		return poolCPU{usage: float64(st["usage_usec"]) / 1e6, user: float64(st["user_usec"]) / 1e6, system: float64(st["system_usec"]) / 1e6, ok: true}
	}
	return poolCPU{}
}

func (c *cpuCollector) Name() string { return "cpu" }

func (c *cpuCollector) Start(ctx context.Context, t Target) (err error) {
	c.o = newOverhead("cpu")
	c.target = t
	c.o.measure(func() {
		c.start = time.Now()
		if c.host0, err = readProcStat(); err != nil {
			err = fmt.Errorf("%w: %v", ErrNoData, err)
			return
		}
		for _, p := range t.Pools {
			c.pools0 = append(c.pools0, readPoolCPU(p))
		}
		c.delayacct = enableSwitch(delayacctPath())
		c.sampler = newBoundedTaskSampler(t.Pools, time.Second, readBlkioDelay, maxBlkioStep)
	})
	if err != nil {
		return err
	}
	c.o.goroutine(c.sampler.run)
	c.o.started(0)
	return nil
}

func delayacctPath() string { return procPath("sys", "kernel", "task_delayacct") }

// HoldDelayAccounting switches kernel.task_delayacct on until release is
// called (restoring what it found, when the last holder releases), so that
// every task forked meanwhile (the pools' services and workloads) has its
// block-I/O delay accounted.
func HoldDelayAccounting() (release func()) {
	if !enableSwitch(delayacctPath()) {
		return func() {}
	}
	return func() { releaseSwitch(delayacctPath()) }
}

// maxBlkioStep bounds one thread's block-I/O delay increment (in ticks)
// over elapsed wall time: the time itself, 10% and two ticks of slack for
// the sampling.
func maxBlkioStep(_ int, elapsed time.Duration) uint64 {
	return uint64(elapsed.Seconds()*userHZ*1.1) + 2
}

func readBlkioDelay(pid, tid int) ([]uint64, bool) {
	f, err := statFields(taskPath(pid, tid, "stat"))
	if err != nil {
		return nil, false
	}
	return []uint64{statField(f, 42)}, true
}

func (c *cpuCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.sampler == nil {
		return nil, fmt.Errorf("metrics: cpu: Stop without Start")
	}
	c.o.measure(func() {
		delays := c.sampler.finish(1)
		if c.delayacct {
			releaseSwitch(delayacctPath())
		}
		window := time.Since(c.start).Seconds()
		host1, rerr := readProcStat()
		if rerr != nil {
			err = rerr
			return
		}
		d := func(cpu int) cpuTimes {
			a, b := c.host0[cpu], host1[cpu]
			return cpuTimes{
				user: b.user - a.user, nice: b.nice - a.nice, system: b.system - a.system,
				idle: b.idle - a.idle, iowait: max(b.iowait-a.iowait, 0), irq: b.irq - a.irq,
				softirq: b.softirq - a.softirq, steal: b.steal - a.steal,
			}
		}
		total := d(-1)
		ncpu := len(host1) - 1
		ms = append(ms,
			Metric{Name: "host_iowait_seconds", Unit: "s", Value: total.iowait},
			Metric{Name: "host_iowait_ratio", Unit: "ratio", Value: safeDiv(total.iowait, window*float64(ncpu))},
			Metric{Name: "host_cpu_busy_seconds", Unit: "s", Value: total.busy()},
		)
		for cpu := range host1 {
			if cpu < 0 {
				continue
			}
			dc := d(cpu)
			core := map[string]string{"core": strconv.Itoa(cpu)}
			ms = append(ms,
				Metric{Name: "cpu_core_busy_seconds", Unit: "s", Value: dc.busy(), Labels: core},
				Metric{Name: "cpu_core_iowait_seconds", Unit: "s", Value: dc.iowait, Labels: core},
			)
		}
		for i, p := range c.target.Pools {
			var coresIowait float64
			for _, core := range p.Cores {
				coresIowait += d(core).iowait
			}
			ms = append(ms,
				Metric{Pool: p.Name, Name: "pool_cores_iowait_seconds", Unit: "s", Value: coresIowait},
				Metric{Pool: p.Name, Name: "iowait_delay_seconds", Unit: "s", Value: float64(delays[i][0]) / userHZ},
			)
			a, b := c.pools0[i], readPoolCPU(p)
			if !a.ok || !b.ok {
				continue
			}
			ms = append(ms,
				Metric{Pool: p.Name, Name: "cpu_seconds", Unit: "s", Value: b.usage - a.usage},
				Metric{Pool: p.Name, Name: "cpu_user_seconds", Unit: "s", Value: b.user - a.user},
				Metric{Pool: p.Name, Name: "cpu_system_seconds", Unit: "s", Value: b.system - a.system},
				Metric{Pool: p.Name, Name: "cpu_cores_used", Unit: "cores", Value: safeDiv(b.usage-a.usage, window)},
			)
		}
	})
	if err != nil {
		return nil, err
	}
	return append(ms, c.o.metrics()...), nil
}

func safeDiv(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}
