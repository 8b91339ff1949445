package ipcbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/client"
)

// BenchmarkStatCores asks whether D gains from a second core (issue 20):
// 4 goroutines of one client process stat one file in a loop on a "pool"
// of one CPU and on one of two (the process's last CPUs): the client's
// threads and GOMAXPROCS restricted to the pool's CPUs, and a service of
// its own started under the pool's affinity (as in a pool's cpuset) with
// D's settings: adaptive wait, a queue per core group, threads pinned, nice
// -10. Each iteration runs a slice on each pool, IPC and the kernel's stat,
// back to back, so that the ratios are taken within a round:
//
//	go test -run '^$' -bench StatCores -benchtime 10x ./runner/ipcbench
//
// It reports the medians over rounds of stats per second per pool and
// implementation, of ipc-2core/ipc-1core (the goal: >= 1.5) and of
// ipc/kernel per pool. Needs two CPUs and root (nice -10).
func BenchmarkStatCores(b *testing.B) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		b.Fatal(err)
	}
	var cpus []int
	for c := 0; c < 1024; c++ {
		if old.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	if len(cpus) < 2 {
		b.Skipf("needs two CPUs, the process may run on %v", cpus)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		b.Fatal(err)
	}
	prev := runtime.GOMAXPROCS(0)
	defer func() {
		runtime.GOMAXPROCS(prev)
		setAllThreads(b, &old)
	}()
	type pool struct {
		n    int
		set  unix.CPUSet
		view fs.Service
	}
	var pools []*pool
	for _, n := range []int{1, 2} {
		p := &pool{n: n}
		var list []string
		for _, c := range cpus[len(cpus)-n:] {
			p.set.Set(c)
			list = append(list, fmt.Sprint(c))
		}
		// The service and the client's policy see the pool's CPUs, as
		// inside its cpuset: start and dial under its affinity.
		setAllThreads(b, &p.set)
		cfg := fmt.Sprintf("cpus = [%s]\n\n[[instance]]\npath = \"/st\"\nstack = [{type = \"local\", dir = %q}]\n",
			strings.Join(list, ", "), dir)
		sp := startService(b, svcOpts{config: cfg, args: []string{"-wait", "adaptive", "-pin", "-nice", "-10"}})
		c := sp.dial(b, client.Options{})
		view, err := c.FS("/st")
		if err != nil {
			b.Fatal(err)
		}
		p.view = view
		pools = append(pools, p)
		setAllThreads(b, &old)
	}
	const threads, slice = 4, 100 * time.Millisecond
	path := filepath.Join(dir, "f")
	rates := map[string][]float64{}
	for b.Loop() {
		round := map[string]float64{}
		for _, p := range pools {
			setAllThreads(b, &p.set)
			runtime.GOMAXPROCS(p.n)
			for _, impl := range []string{"kernel", "ipc"} {
				op := func() error {
					_, err := p.view.Stat(context.Background(), "f")
					return err
				}
				if impl == "kernel" {
					op = func() error {
						var st unix.Stat_t
						return unix.Stat(path, &st)
					}
				}
				lats, err := statSlice(threads, slice, op)
				if err != nil {
					b.Fatalf("%s on %d cores: %v", impl, p.n, err)
				}
				round[fmt.Sprintf("%s-%dcore", impl, p.n)] = float64(len(lats)) / slice.Seconds()
			}
		}
		for k, v := range round {
			rates[k+"-stats/s"] = append(rates[k+"-stats/s"], v)
		}
		rates["ipc-2core/ipc-1core-x"] = append(rates["ipc-2core/ipc-1core-x"], round["ipc-2core"]/round["ipc-1core"])
		for _, n := range []int{1, 2} {
			k := fmt.Sprintf("ipc/kernel-%dcore-x", n)
			rates[k] = append(rates[k], round[fmt.Sprintf("ipc-%dcore", n)]/round[fmt.Sprintf("kernel-%dcore", n)])
		}
	}
	for k, v := range rates {
		b.ReportMetric(median(v), k)
	}
}
