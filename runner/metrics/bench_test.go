package metrics_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
)

var overheadWindow = flag.Duration("overhead.window", time.Second, "window of BenchmarkCollectorOverhead")

// BenchmarkCollectorOverhead runs each collector over a 1 s window (flag
// -overhead.window) on two
// pools (one hammering a directory, one with a Go service speaking the
// runtime-metrics protocol) and reports the collector's own CPU cost,
// collector_overhead_cores, as overhead-cores (goal: < 0.02).
func BenchmarkCollectorOverhead(b *testing.B) {
	testenv.RequireRoot(b, "pools: cgroups and namespaces")
	cores, _ := pool.HostCores()
	group := "polytropon-test/bench-" + strconv.Itoa(os.Getpid())
	mk := func(name string) *pool.Pool {
		p, err := pool.Create(context.Background(), pool.Spec{Name: name, Cores: cores[:1], Namespaces: true, Group: group})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { p.Destroy(context.Background()) })
		return p
	}
	work, svcPool := mk("work"), mk("svc")
	exe, _ := os.Executable()
	start := func(p *pool.Pool, env ...string) *pool.Process {
		proc, err := p.Start(context.Background(), pool.Cmd{Path: exe, Args: []string{exe}, Env: append(os.Environ(), env...)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { proc.Signal(syscall.SIGKILL); proc.Wait() })
		return proc
	}
	start(work, envHammer+"="+b.TempDir())
	file := filepath.Join(b.TempDir(), "rt.json")
	svc := start(svcPool, envService+"=1", metrics.EnvRuntimeMetricsFile+"="+file)
	for i := 0; i < 500; i++ {
		if _, err := os.Stat(file); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	tgt := metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(work), metrics.TargetPool(svcPool)}, ServicePIDs: []int{svc.Pid}}

	for _, name := range metrics.Names() {
		b.Run(name, func(b *testing.B) {
			var sum float64
			for b.Loop() {
				c, _ := metrics.New(name)
				if err := c.Start(context.Background(), tgt); err != nil {
					if errors.Is(err, metrics.ErrNoData) {
						b.Skip(err)
					}
					b.Fatal(err)
				}
				time.Sleep(*overheadWindow)
				ms, err := c.Stop(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				var parts []string
				for _, m := range ms {
					if m.Name == "collector_overhead_cores" {
						sum += m.Value
					}
					if rest, ok := strings.CutPrefix(m.Name, "collector_overhead_"); ok {
						parts = append(parts, fmt.Sprintf("%s=%.5g", rest, m.Value))
					}
				}
				b.Logf("%s: %s", name, strings.Join(parts, " "))
			}
			b.ReportMetric(sum/float64(b.N), "overhead-cores")
		})
	}
}
