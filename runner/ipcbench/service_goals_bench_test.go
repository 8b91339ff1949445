package ipcbench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/client"
)

// BenchmarkServiceGoals measures the service path against the baselines
// its goals name, on a host whose speed drifts from second to second (a
// shared 2-vCPU VM: the raw ping-pong alone moves between 0.2 and 0.7 µs).
// Each iteration is one round of short slices run back to back: the raw
// cross-process ping-pong, the null request, the kernel's 4 KiB pread and
// the IPC's 4 KiB pread through a local instance and through a cache
// instance. A slice reports the median of its per-operation latencies;
// each ratio is taken within a round, between slices a few milliseconds
// apart, and the benchmark reports the median over rounds:
//
//	go test -run '^$' -bench ServiceGoals -benchtime 30x ./fs/client
//
// The service uses the papers' placement: one queue, its thread pinned to
// the first CPU; the caller is pinned to the last CPU, and the ping-pong's
// two sides to the first and the second. Each wait strategy is a
// sub-benchmark: spin-futex (the papers' choice) and adaptive (D's
// default); both sleep while the ping-pong slice runs.
func BenchmarkServiceGoals(b *testing.B) {
	for _, wait := range []string{"spin-futex", "adaptive"} {
		b.Run("wait="+wait, func(b *testing.B) { serviceGoals(b, wait) })
	}
}

func serviceGoals(b *testing.B, wait string) {
	dir := b.TempDir()
	small := make([]byte, 4096)
	for i := range small {
		small[i] = byte(i)
	}
	if err := os.WriteFile(filepath.Join(dir, "small"), small, 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := fmt.Sprintf(`
[[instance]]
path = "/goal-local"
stack = [{type = "local", dir = %[1]q}]

[[instance]]
path = "/goal-cache"
stack = [{type = "cache", cache = {capacity = "64MiB"}}, {type = "local", dir = %[1]q}]
`, dir)
	sp := startService(b, svcOpts{config: cfg, args: []string{"-wait", wait, "-queues", "1", "-pin"}})
	c := sp.dial(b, client.Options{})
	open := func(root string) fs.File {
		view, err := c.FS(root)
		if err != nil {
			b.Fatal(err)
		}
		f, err := view.Open(context.Background(), "small", syscall.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { f.Close() })
		return f
	}
	viaLocal, viaCache := open("/goal-local"), open("/goal-cache")
	kfd, err := unix.Open(filepath.Join(dir, "small"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(kfd)

	const slice = 20 * time.Millisecond
	buf := make([]byte, 4096)
	pread := func(f fs.File) func() error {
		return func() error {
			n, err := f.Pread(buf, 0)
			if err == nil && n != len(buf) {
				err = fmt.Errorf("short read: %d bytes", n)
			}
			return err
		}
	}
	points := []struct {
		name string
		op   func() error
	}{
		{"null", c.Null},
		{"kernel-pread4k", func() error {
			n, err := unix.Pread(kfd, buf, 0)
			if err == nil && n != len(buf) {
				err = fmt.Errorf("short read: %d bytes", n)
			}
			return err
		}},
		{"ipc-pread4k-local", pread(viaLocal)},
		{"ipc-pread4k-cache", pread(viaCache)},
	}
	medians := map[string][]float64{}
	ratios := map[string][]float64{}
	for b.Loop() {
		pts, err := RunPingPong(context.Background(), RTTConfig{Peers: []string{PeerProcess},
			Duration: slice, Pin: true, Launcher: EnvLauncher(os.Args[0])})
		if err != nil || len(pts) != 1 || pts[0].Err != nil {
			b.Fatalf("ping-pong: %v %+v", err, pts)
		}
		round := map[string]float64{"pingpong": float64(pts[0].Hist.Quantile(0.5))}
		func() {
			defer pinCaller(b, c)()
			for _, p := range points {
				m, err := sliceMedian(slice, p.op)
				if err != nil {
					b.Fatalf("%s: %v", p.name, err)
				}
				round[p.name] = m
			}
		}()
		for k, v := range round {
			medians[k] = append(medians[k], v)
		}
		ratios["null/pingpong"] = append(ratios["null/pingpong"], round["null"]/round["pingpong"])
		for _, via := range []string{"local", "cache"} {
			k := "ipc-pread4k-" + via
			ratios[k+"/kernel"] = append(ratios[k+"/kernel"], round[k]/round["kernel-pread4k"])
		}
	}
	for k, v := range medians {
		b.ReportMetric(median(v), k+"-ns")
	}
	for k, v := range ratios {
		b.ReportMetric(median(v), k+"-x")
	}
}

// sliceMedian runs op for about d and returns the median of its
// per-call latencies in nanoseconds.
func sliceMedian(d time.Duration, op func() error) (float64, error) {
	lat := make([]float64, 0, 1<<15)
	end := time.Now().Add(d)
	for {
		t0 := time.Now()
		if err := op(); err != nil {
			return 0, err
		}
		t1 := time.Now()
		lat = append(lat, float64(t1.Sub(t0)))
		if t1.After(end) {
			return median(lat), nil
		}
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
