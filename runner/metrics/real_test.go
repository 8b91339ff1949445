package metrics_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
)

// Helper processes of these tests are this test binary re-executed with
// one of these switches.
const (
	envHammer  = "POLYTROPON_METRICS_TEST_HAMMER"  // dir: rename/create/unlink in it until killed
	envService = "POLYTROPON_METRICS_TEST_SERVICE" // a Go "service" with contended mutexes
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envHammer); dir != "" {
		hammer(dir)
		os.Exit(0)
	}
	if os.Getenv(envService) != "" {
		fakeService()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// hammer makes directory-lock contention: files created, renamed and
// removed in one shared directory.
func hammer(dir string) {
	me := strconv.Itoa(os.Getpid())
	for i := 0; ; i++ {
		a := filepath.Join(dir, me+"-a-"+strconv.Itoa(i%64))
		b := filepath.Join(dir, me+"-b-"+strconv.Itoa(i%64))
		if f, err := os.Create(a); err == nil {
			f.Close()
		}
		os.Rename(a, b)
		os.Remove(b)
	}
}

// fakeService serves the runtime-metrics protocol and keeps goroutines
// fighting over a mutex.
func fakeService() {
	stop, err := metrics.ServeRuntimeMetrics("")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer stop()
	var mu sync.Mutex
	for range 8 {
		go func() {
			for {
				mu.Lock()
				time.Sleep(50 * time.Microsecond)
				mu.Unlock()
			}
		}()
	}
	select {}
}

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "cgroups, tracing")
}

func newPool(t *testing.T, name string, cores []int) *pool.Pool {
	t.Helper()
	p, err := pool.Create(context.Background(), pool.Spec{Name: name, Cores: cores, MemoryBytes: 1 << 30, Namespaces: true,
		Group: fmt.Sprintf("polytropon-test/metrics-%d", os.Getpid())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return p
}

func startIn(t *testing.T, p *pool.Pool, env []string, args ...string) *pool.Process {
	t.Helper()
	proc, err := p.Start(context.Background(), pool.Cmd{Path: args[0], Args: args, Env: append(os.Environ(), env...)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proc.Signal(syscall.SIGKILL); proc.Wait() })
	return proc
}

// startCollector starts the named collector on tgt; ErrNoData skips.
func startCollector(t *testing.T, name string, tgt metrics.Target) metrics.Collector {
	t.Helper()
	c, err := metrics.New(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(context.Background(), tgt); err != nil {
		if errors.Is(err, metrics.ErrNoData) {
			t.Skipf("%s: %v", name, err)
		}
		t.Fatal(err)
	}
	return c
}

func collect(t *testing.T, name string, tgt metrics.Target, window time.Duration, during func()) []metrics.Metric {
	t.Helper()
	c := startCollector(t, name, tgt)
	if during != nil {
		during()
	}
	time.Sleep(window)
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func count(ms []metrics.Metric, name string) int {
	n := 0
	for _, m := range ms {
		if m.Name == name {
			n++
		}
	}
	return n
}

func value(ms []metrics.Metric, pool, name string, labels ...string) (float64, bool) {
next:
	for _, m := range ms {
		if m.Pool != pool || m.Name != name {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if m.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		return m.Value, true
	}
	return 0, false
}

func hostCores(t *testing.T) []int {
	cores, err := pool.HostCores()
	if err != nil {
		t.Fatal(err)
	}
	return cores
}

// TestStealRealIntruder: a busy loop pinned to the pool's core from
// outside the pool shows up as the pool's steal.
func TestStealRealIntruder(t *testing.T) {
	requireRoot(t)
	cores := hostCores(t)
	core := cores[len(cores)-1]
	p := newPool(t, "victim", []int{core})
	var intruder *exec.Cmd
	ms := collect(t, "steal", metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(p)}}, time.Second, func() {
		intruder = exec.Command("taskset", "-c", strconv.Itoa(core), "sh", "-c", "while :; do :; done")
		if err := intruder.Start(); err != nil {
			t.Fatal(err)
		}
	})
	intruder.Process.Kill()
	intruder.Wait()
	steal, ok := value(ms, "victim", "cpu_steal_seconds")
	if !ok {
		t.Fatalf("no cpu_steal_seconds for the pool: %v", ms)
	}
	// The intruder had the core alone for ~1 s; on a shared VM it still
	// gets a good part of it.
	if steal < 0.3 {
		t.Errorf("cpu_steal_seconds = %.3f with an intruder spinning on core %d for 1 s, want >= 0.3", steal, core)
	}
	ratio, _ := value(ms, "victim", "cpu_steal_ratio")
	t.Logf("steal %.3f s (ratio %.2f) on core %d", steal, ratio, core)
}

// TestLockwaitReal: processes of one pool hammering one directory wait on
// kernel locks, and the waits are attributed to that pool, with both
// backends; no bpftrace outlives the collector.
func TestLockwaitReal(t *testing.T) {
	requireRoot(t)
	cores := hostCores(t)
	busy := newPool(t, "hammer", cores)
	idle := newPool(t, "idle", cores[:1])
	dir := t.TempDir()
	for _, backend := range []string{"bpftrace", "ftrace"} {
		t.Run(backend, func(t *testing.T) {
			if backend == "bpftrace" {
				testenv.RequireTool(t, "bpftrace", "bpftrace")
			}
			old := metrics.LockwaitBackend
			metrics.LockwaitBackend = backend
			defer func() { metrics.LockwaitBackend = old }()
			tgt := metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(busy), metrics.TargetPool(idle)}}
			var procs []*pool.Process
			ms := collect(t, "lockwait", tgt, 1500*time.Millisecond, func() {
				exe, _ := os.Executable()
				for range 4 {
					procs = append(procs, startIn(t, busy, []string{envHammer + "=" + dir}, exe))
				}
			})
			for _, pr := range procs {
				pr.Signal(syscall.SIGKILL)
				pr.Wait()
			}
			wait, _ := value(ms, "hammer", "lock_wait_seconds", "backend", backend)
			n, _ := value(ms, "hammer", "lock_waits")
			idleWait, _ := value(ms, "idle", "lock_wait_seconds")
			hostWait, _ := value(ms, "", "lock_wait_seconds")
			t.Logf("%s: hammer pool %.6f s in %v waits; idle pool %.6f s; host %.6f s", backend, wait, n, idleWait, hostWait)
			for _, m := range ms {
				if m.Name == "lock_wait_top_seconds" {
					t.Logf("  top: %s %.6f s %v", m.Pool, m.Value, m.Labels)
				}
			}
			if wait <= 0 || n <= 0 {
				t.Errorf("hammer pool lock waits = %v s in %v waits, want > 0", wait, n)
			}
			var byType float64
			for _, m := range ms {
				if m.Pool == "hammer" && m.Name == "lock_wait_type_seconds" {
					byType += m.Value
				}
				if _, ok := m.Labels["addr"]; ok {
					t.Errorf("%s carries an address label %v: a new series every repetition", m.Name, m.Labels)
				}
			}
			if byType <= 0 || math.Abs(byType-wait) > 0.01*wait+1e-6 {
				t.Errorf("hammer pool waits by lock type sum to %v s, want the pool's total %v s", byType, wait)
			}
			if idleWait > wait {
				t.Errorf("idle pool waited %v s, more than the hammer pool's %v s", idleWait, wait)
			}
			if hostWait < wait {
				t.Errorf("host-wide waits %v s < the pool's %v s", hostWait, wait)
			}
			if _, ok := value(ms, "", "collector_overhead_cores", "collector", "lockwait"); !ok {
				t.Error("no collector_overhead_cores")
			}
			if _, ok := value(ms, "", "collector_overhead_start_seconds", "collector", "lockwait"); !ok {
				t.Error("no collector_overhead_start_seconds")
			}
			if _, ok := value(ms, "", "collector_overhead_bpf_run_seconds", "collector", "lockwait"); backend == "bpftrace" && !ok {
				t.Error("no collector_overhead_bpf_run_seconds with the bpftrace backend")
			}
			for _, m := range ms {
				if strings.HasPrefix(m.Name, "collector_overhead_") && len(m.Labels) != 1 {
					t.Errorf("%s labels %v, want only the collector's name", m.Name, m.Labels)
				}
			}
			assertNoBpftrace(t)
		})
	}
}

// TestLockwaitCancel: cancelling the context stops bpftrace.
func TestLockwaitCancel(t *testing.T) {
	requireRoot(t)
	testenv.RequireTool(t, "bpftrace", "bpftrace")
	old := metrics.LockwaitBackend
	metrics.LockwaitBackend = "bpftrace"
	defer func() { metrics.LockwaitBackend = old }()
	c, _ := metrics.New("lockwait")
	ctx, cancel := context.WithCancel(context.Background())
	if err := c.Start(ctx, metrics.Target{}); err != nil {
		t.Fatal(err)
	}
	if len(bpftracePids()) == 0 {
		t.Fatal("no bpftrace process while the collector runs")
	}
	cancel()
	deadline := time.Now().Add(5 * time.Second)
	for len(bpftracePids()) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	assertNoBpftrace(t)
	c.Stop(context.Background()) // must not hang after a cancel
}

// bpftracePids lists bpftrace processes that are children of this test.
func bpftracePids() []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	me := strconv.Itoa(os.Getpid())
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		if !strings.Contains(s, "(bpftrace)") {
			continue
		}
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) > 1 && f[1] == me && f[0] != "Z" {
			pids = append(pids, atoi(e.Name()))
		}
	}
	return pids
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func assertNoBpftrace(t *testing.T) {
	t.Helper()
	if pids := bpftracePids(); len(pids) > 0 {
		t.Errorf("bpftrace processes left: %v", pids)
	}
}

// TestUserlockReal: a Go service inside a pool with contended mutexes
// reports its mutex wait through the runtime-metrics protocol.
func TestUserlockReal(t *testing.T) {
	requireRoot(t)
	p := newPool(t, "svc", hostCores(t))
	file := filepath.Join(t.TempDir(), "rt.json")
	exe, _ := os.Executable()
	svc := startIn(t, p, []string{envService + "=1", metrics.EnvRuntimeMetricsFile + "=" + file}, exe)
	// Wait for the service to install its handler (first snapshot).
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(file); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("service wrote no snapshot")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tgt := metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(p)}, ServicePIDs: []int{svc.Pid, os.Getpid()}}
	c, _ := metrics.New("userlock")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	per, ok := value(ms, "svc", "service_lock_wait_seconds", "service", "0")
	sum, _ := value(ms, "svc", "user_lock_wait_seconds")
	if !ok || per <= 0 || sum != per {
		t.Errorf("service lock wait %v (found %v), pool sum %v; want > 0 and equal", per, ok, sum)
	}
	if n := count(ms, "service_lock_wait_seconds"); n != 1 {
		t.Errorf("%d service_lock_wait_seconds metrics, want 1: a process without the protocol was reported", n)
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(svc.Pid)); err != nil {
		t.Errorf("the service died from the protocol: %v", err)
	}
}

// TestCollectorsReal runs every collector over a pool with a busy loop, a
// memory hog and a sleeper, checks plausible values and logs each
// collector's overhead.
func TestCollectorsReal(t *testing.T) {
	requireRoot(t)
	cores := hostCores(t)
	p := newPool(t, "work", cores[:1])
	startIn(t, p, nil, "sh", "-c", "while :; do :; done")
	startIn(t, p, nil, "sh", "-c", "head -c 64M /dev/zero | tail > /dev/null; sleep 100")
	startIn(t, p, nil, "sh", "-c", "while :; do sleep 0.01; done")
	time.Sleep(300 * time.Millisecond)
	tgt := metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(p)}}
	var cs []metrics.Collector
	for _, n := range []string{"cpu", "steal", "memory", "ctxswitch", "psi"} {
		c, _ := metrics.New(n)
		if err := c.Start(context.Background(), tgt); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		cs = append(cs, c)
	}
	hog := startIn(t, p, nil, "sh", "-c", "head -c 100M /dev/zero | tail > /dev/null")
	// The hog shares one core with the busy loop, so on a slow host tail
	// may need seconds to buffer its 100 MiB: wait for it to finish (the
	// peak is only reached at the end), but keep a minimum window for the
	// CPU, context-switch and PSI checks.
	minWindow := time.After(1500 * time.Millisecond)
	hogDone := make(chan error, 1)
	go func() { hogDone <- hog.Wait() }()
	select {
	case err := <-hogDone:
		if err != nil {
			t.Fatalf("memory hog: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("memory hog did not finish within 30 s")
	}
	<-minWindow
	var all []metrics.Metric
	for _, c := range cs {
		ms, err := c.Stop(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", c.Name(), err)
		}
		all = append(all, ms...)
	}
	checks := []struct {
		name string
		min  float64
	}{
		{"cpu_seconds", 0.2},
		{"memory_peak_bytes", 90 << 20},
		{"ctx_switches_voluntary", 20},
	}
	for _, c := range checks {
		if v, ok := value(all, "work", c.name); !ok || v < c.min {
			t.Errorf("%s = %v (found %v), want >= %v", c.name, v, ok, c.min)
		}
	}
	if v, ok := value(all, "work", "cpu_steal_seconds"); !ok || v < 0 {
		t.Errorf("cpu_steal_seconds = %v (found %v)", v, ok)
	}
	if _, ok := value(all, "", "psi_stall_seconds", "resource", "cpu", "kind", "some"); !ok {
		t.Error("no host cpu PSI")
	}
	if _, err := os.Stat(filepath.Join(p.CgroupV2(), "cpu.pressure")); err == nil {
		// The busy loop and the sleeper share one core: the pool stalls on CPU.
		if v, ok := value(all, "work", "psi_stall_seconds", "resource", "cpu", "kind", "some"); !ok || v <= 0 {
			t.Errorf("pool cpu PSI stall = %v (found %v), want > 0", v, ok)
		}
	}
	for _, m := range all {
		if m.Name == "collector_overhead_cores" {
			t.Logf("overhead %-10s %.5f cores", m.Labels["collector"], m.Value)
		}
	}
}
