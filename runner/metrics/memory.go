package metrics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"polytropon/results"
)

// memory: peak and current memory use per pool over the window.
//
// cgroup v1: Start resets memory.max_usage_in_bytes (writing 0), Stop reads
// it and memory.usage_in_bytes. cgroup v2: Start opens memory.peak and
// writes "reset" through that descriptor (kernel 6.12+: the reset is local
// to the descriptor), Stop reads the peak through it and memory.current.
// When the reset fails the peak covers the pool's lifetime; the label
// peak_scope says which ("window" or "lifetime").

func init() {
	Register("memory", func() Collector { return &memoryCollector{} })
	Declare("memory",
		results.MetricDecl{Name: "memory_peak_bytes", Unit: "bytes", Agg: results.AggSum, Tags: []string{"peak_scope"}},
		results.MetricDecl{Name: "memory_current_bytes", Unit: "bytes", Agg: results.AggSum},
	)
}

type memoryCollector struct {
	o      *overhead
	target Target
	pools  []memPool
}

type memPool struct {
	v1dir    string
	peakFile *os.File // v2
	scope    string
}

func (m *memoryCollector) Name() string { return "memory" }

func (m *memoryCollector) Start(ctx context.Context, t Target) (err error) {
	m.o = newOverhead("memory")
	m.target = t
	m.o.measure(func() {
		any := false
		for _, p := range t.Pools {
			var mp memPool
			switch {
			case p.CgroupV1["memory"] != "":
				mp.v1dir = p.CgroupV1["memory"]
				mp.scope = "lifetime"
				if os.WriteFile(filepath.Join(mp.v1dir, "memory.max_usage_in_bytes"), []byte("0"), 0) == nil {
					mp.scope = "window"
				}
				any = true
			case p.CgroupV2 != "":
				f, err := os.OpenFile(filepath.Join(p.CgroupV2, "memory.peak"), os.O_RDWR, 0)
				if err != nil {
					f, err = os.Open(filepath.Join(p.CgroupV2, "memory.peak"))
				}
				if err == nil {
					mp.peakFile = f
					mp.scope = "lifetime"
					if _, err := f.Write([]byte("reset\n")); err == nil {
						mp.scope = "window"
					}
					any = true
				}
			}
			m.pools = append(m.pools, mp)
		}
		if !any {
			err = fmt.Errorf("%w: memory: no memory cgroup for any pool", ErrNoData)
		}
	})
	m.o.started(0)
	return err
}

func (m *memoryCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if m.o == nil {
		return nil, fmt.Errorf("metrics: memory: Stop without Start")
	}
	m.o.measure(func() {
		for i, p := range m.target.Pools {
			mp := m.pools[i]
			var peak, cur uint64
			var perr, cerr error
			switch {
			case mp.v1dir != "":
				peak, perr = readUint(filepath.Join(mp.v1dir, "memory.max_usage_in_bytes"))
				cur, cerr = readUint(filepath.Join(mp.v1dir, "memory.usage_in_bytes"))
			case mp.peakFile != nil:
				buf := make([]byte, 64)
				n, rerr := mp.peakFile.ReadAt(buf, 0)
				if n > 0 {
					peak, perr = strconv.ParseUint(strings.TrimSpace(string(buf[:n])), 10, 64)
				} else {
					perr = rerr
				}
				mp.peakFile.Close()
				cur, cerr = readUint(filepath.Join(p.CgroupV2, "memory.current"))
			default:
				continue
			}
			if perr == nil {
				ms = append(ms, Metric{Pool: p.Name, Name: "memory_peak_bytes", Unit: "bytes", Value: float64(peak),
					Labels: map[string]string{"peak_scope": mp.scope}})
			}
			if cerr == nil {
				ms = append(ms, Metric{Pool: p.Name, Name: "memory_current_bytes", Unit: "bytes", Value: float64(cur)})
			}
		}
	})
	return append(ms, m.o.metrics()...), err
}
