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

	"polytropon/internal/hostcheck"
	"polytropon/results"
)

// psi: pressure stall information, host-wide from /proc/pressure/{cpu,io,
// memory} and per pool from <cgroup-v2 dir>/{cpu,io,memory}.pressure
// (present on the label directories of hybrid hosts too). Per resource and
// kind ("some", "full"): psi_stall_seconds (Δ total over the window) and
// psi_avg10 (the kernel's 10 s average at Stop, in percent).

func init() {
	Register("psi", func() Collector { return &psiCollector{} })
	Declare("psi",
		results.MetricDecl{Name: "psi_stall_seconds", Unit: "s", Scope: results.ScopePoolHost, Agg: results.AggSum, Labels: []string{"resource", "kind"}},
		results.MetricDecl{Name: "psi_avg10", Unit: "percent", Scope: results.ScopePoolHost, Agg: results.AggMax, Labels: []string{"resource", "kind"}},
	)
}

var psiResources = []string{"cpu", "io", "memory"}

type psiCollector struct {
	o      *overhead
	target Target
	host0  map[string]psiFile
	pools0 []map[string]psiFile
}

// psiFile is one pressure file: kind ("some"/"full") -> values.
type psiFile map[string]psiLine

type psiLine struct {
	avg10 float64
	total uint64 // µs
}

func readPSI(path string) (psiFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := psiFile{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		var l psiLine
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			switch k {
			case "avg10":
				l.avg10, _ = strconv.ParseFloat(v, 64)
			case "total":
				l.total, _ = strconv.ParseUint(v, 10, 64)
			}
		}
		out[f[0]] = l
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics: %s: no pressure lines", path)
	}
	return out, nil
}

func readPSISet(path func(res string) string) map[string]psiFile {
	out := map[string]psiFile{}
	for _, r := range psiResources {
		if f, err := readPSI(path(r)); err == nil {
			out[r] = f
		}
	}
	return out
}

func hostPSIPath(res string) string { return procPath("pressure", res) }

func (c *psiCollector) Name() string { return "psi" }

func (c *psiCollector) Start(ctx context.Context, t Target) (err error) {
	c.o = newOverhead("psi")
	c.target = t
	c.o.measure(func() {
		c.host0 = readPSISet(hostPSIPath)
		any := len(c.host0) > 0
		for _, p := range t.Pools {
			var set map[string]psiFile
			if p.CgroupV2 != "" {
				set = readPSISet(func(res string) string { return filepath.Join(p.CgroupV2, res+".pressure") })
			}
			c.pools0 = append(c.pools0, set)
			any = any || len(set) > 0
		}
		if !any {
			err = fmt.Errorf("%w: psi: no /proc/pressure and no pool pressure files", ErrNoData)
		}
	})
	c.o.started(0)
	return err
}

func psiMetrics(pool string, a, b map[string]psiFile) []Metric {
	var ms []Metric
	for _, r := range psiResources {
		fa, fb := a[r], b[r]
		if fa == nil || fb == nil {
			continue
		}
		for _, kind := range []string{"some", "full"} {
			la, oka := fa[kind]
			lb, okb := fb[kind]
			if !oka || !okb {
				continue
			}
			labels := map[string]string{"resource": r, "kind": kind}
			var d uint64
			if lb.total > la.total {
				d = lb.total - la.total
			}
			ms = append(ms,
				Metric{Pool: pool, Name: "psi_stall_seconds", Unit: "s", Value: float64(d) / 1e6, Labels: labels},
				Metric{Pool: pool, Name: "psi_avg10", Unit: "percent", Value: lb.avg10, Labels: labels},
			)
		}
	}
	return ms
}

func (c *psiCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.o == nil {
		return nil, fmt.Errorf("metrics: psi: Stop without Start")
	}
	c.o.measure(func() {
		ms = psiMetrics("", c.host0, readPSISet(hostPSIPath))
		for i, p := range c.target.Pools {
			if len(c.pools0[i]) == 0 {
				continue
			}
			ms = append(ms, psiMetrics(p.Name, c.pools0[i], readPSISet(func(res string) string { return filepath.Join(p.CgroupV2, res+".pressure") }))...)
		}
	})
	return append(ms, c.o.metrics()...), nil
}

// Requirements: pressure stall information in the kernel.
func (c *psiCollector) Requirements() []hostcheck.Item {
	if _, err := os.Stat(filepath.Join(ProcRoot, "pressure", "cpu")); err != nil {
		return []hostcheck.Item{hostcheck.Missing("PSI", "no "+filepath.Join(ProcRoot, "pressure"), "a kernel with CONFIG_PSI, booted without psi=0 (add psi=1 to the kernel command line)", "collector psi")}
	}
	return []hostcheck.Item{hostcheck.Found("PSI", filepath.Join(ProcRoot, "pressure"), "collector psi")}
}
