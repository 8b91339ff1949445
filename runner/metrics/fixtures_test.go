package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"polytropon/results"
)

// fixture is a fake host: proc/ and sys/fs/cgroup/ trees in a temp dir,
// node_exporter style. It points ProcRoot and CgroupRoot at them for the
// test.
type fixture struct {
	t    *testing.T
	root string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, root: t.TempDir()}
	oldProc, oldCg := ProcRoot, CgroupRoot
	ProcRoot, CgroupRoot = f.path("proc"), f.path("cgroup")
	t.Cleanup(func() { ProcRoot, CgroupRoot = oldProc, oldCg })
	return f
}

func (f *fixture) path(rel string) string { return filepath.Join(f.root, rel) }

func (f *fixture) write(rel, content string) {
	f.t.Helper()
	p := f.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// procStat writes /proc/stat with per-CPU lines from ticks
// [cpu][user nice system idle iowait irq softirq steal].
func (f *fixture) procStat(ticks ...[8]int) {
	var total [8]int
	var lines []string
	for i, c := range ticks {
		for k := range c {
			total[k] += c[k]
		}
		lines = append(lines, fmt.Sprintf("cpu%d %s 0 0", i, join(c[:])))
	}
	f.write("proc/stat", fmt.Sprintf("cpu  %s 0 0\n%s\nintr 0\nctxt 0\n", join(total[:]), strings.Join(lines, "\n")))
}

func join(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, " ")
}

// taskStat writes /proc/<pid>/task/<tid>/stat with field 42
// (delayacct_blkio_ticks) set.
func (f *fixture) taskStat(pid, tid, blkio int) {
	fields := make([]string, 50) // fields 3..52
	for i := range fields {
		fields[i] = "0"
	}
	fields[0] = "S"
	fields[42-3] = fmt.Sprint(blkio)
	f.write(fmt.Sprintf("proc/%d/task/%d/stat", pid, tid), fmt.Sprintf("%d (fake (task)) %s\n", tid, strings.Join(fields, " ")))
}

// find returns the metrics matching name, pool and labels.
func find(ms []Metric, pool, name string, labels ...string) []Metric {
	var out []Metric
next:
	for _, m := range ms {
		if m.Name != name || m.Pool != pool {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if m.Labels[labels[i]] != labels[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}

func one(t *testing.T, ms []Metric, pool, name string, labels ...string) float64 {
	t.Helper()
	got := find(ms, pool, name, labels...)
	if len(got) != 1 {
		t.Fatalf("metric %s pool %q %v: found %d, want 1 (all: %v)", name, pool, labels, len(got), ms)
	}
	return got[0].Value
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestStealFixtureV1(t *testing.T) {
	f := newFixture(t)
	f.procStat([8]int{}, [8]int{})
	f.write("cgroup/cpuacct/cpuacct.usage_percpu", "1000000000 2000000000 \n")
	pool := f.path("cgroup/cpuacct/polytropon/p0")
	f.write("cgroup/cpuacct/polytropon/p0/cpuacct.usage_percpu", "100000000 0 \n")
	tgt := Target{Pools: []PoolTarget{{Name: "p0", Cores: []int{0}, CgroupV1: map[string]string{"cpuacct": pool}}}}

	c, _ := New("steal")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	// Core 0 ran 2.0 s in total, 1.5 s of it the pool's: 0.5 s stolen.
	// Core 1 (not the pool's) ran 0.5 s: ignored.
	f.write("cgroup/cpuacct/cpuacct.usage_percpu", "3000000000 2500000000\n")
	f.write("cgroup/cpuacct/polytropon/p0/cpuacct.usage_percpu", "1600000000 0\n")
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := one(t, ms, "p0", "cpu_steal_seconds"); !near(got, 0.5) {
		t.Errorf("cpu_steal_seconds = %v, want 0.5", got)
	}
	if got := one(t, ms, "p0", "cpu_steal_core_seconds", "core", "0"); !near(got, 0.5) {
		t.Errorf("cpu_steal_core_seconds{core=0} = %v, want 0.5", got)
	}
	if got := one(t, ms, "p0", "pool_cores_busy_seconds"); !near(got, 2.0) {
		t.Errorf("pool_cores_busy_seconds = %v, want 2.0", got)
	}
	if got := one(t, ms, "p0", "cpu_steal_ratio"); got <= 0 {
		t.Errorf("cpu_steal_ratio = %v, want > 0", got)
	}
	if got := one(t, ms, "", "collector_overhead_cores", "collector", "steal"); got < 0 {
		t.Errorf("collector_overhead_cores = %v", got)
	}
	checkOverheadMetrics(t, ms, "steal")
}

// checkOverheadMetrics: the overhead of a collector comes as values of
// metrics whose only label is the collector's name, so that repetitions
// fall into one series of summary.csv.
func checkOverheadMetrics(t *testing.T, ms []Metric, collector string) {
	t.Helper()
	checkDeclared(t, collector, ms)
	found := map[string]bool{}
	for _, m := range ms {
		if !strings.HasPrefix(m.Name, "collector_overhead_") {
			continue
		}
		found[m.Name] = true
		if len(m.Labels) != 1 || m.Labels["collector"] != collector {
			t.Errorf("%s labels %v, want only collector=%s", m.Name, m.Labels, collector)
		}
		if m.Value < 0 {
			t.Errorf("%s = %v, want >= 0", m.Name, m.Value)
		}
	}
	for _, name := range []string{"collector_overhead_cores", "collector_overhead_cpu_seconds", "collector_overhead_start_seconds"} {
		if !found[name] {
			t.Errorf("no %s among %v", name, ms)
		}
	}
}

// TestUserlockNoServices: a system without filesystem-service processes
// gives ErrNoData with a reason, not a dangling "<nil>".
func TestUserlockNoServices(t *testing.T) {
	c, _ := New("userlock")
	err := c.Start(context.Background(), Target{Pools: []PoolTarget{{Name: "p0"}}})
	if !errors.Is(err, ErrNoData) {
		t.Fatalf("Start without service pids: %v, want ErrNoData", err)
	}
	if msg := err.Error(); strings.Contains(msg, "<nil>") || !strings.Contains(msg, "no filesystem-service process") {
		t.Errorf("error %q, want the reason and no <nil>", msg)
	}
}

func TestStealFixtureV2(t *testing.T) {
	f := newFixture(t)
	// cpu1 busy before: 100 ticks; after: 100+250 ticks of user+system.
	f.procStat([8]int{}, [8]int{60, 0, 40, 500, 0, 0, 0, 0})
	f.write("cgroup/polytropon/p0/cpu.stat", "usage_usec 1000000\nuser_usec 800000\nsystem_usec 200000\n")
	tgt := Target{Pools: []PoolTarget{{Name: "p0", Cores: []int{1}, CgroupV2: f.path("cgroup/polytropon/p0")}}}
	c, _ := New("steal")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	// Core 1 busy 2.5 s; the pool used 1.75 s: 0.75 s stolen.
	f.procStat([8]int{}, [8]int{210, 0, 140, 600, 0, 0, 0, 0})
	f.write("cgroup/polytropon/p0/cpu.stat", "usage_usec 2750000\nuser_usec 2000000\nsystem_usec 750000\n")
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeclared(t, "steal", ms)
	if got := one(t, ms, "p0", "cpu_steal_seconds"); !near(got, 0.75) {
		t.Errorf("cpu_steal_seconds = %v, want 0.75", got)
	}
	if got := find(ms, "p0", "cpu_steal_core_seconds"); len(got) != 0 {
		t.Errorf("v2 has no per-core steal, got %v", got)
	}
}

func TestStealNoData(t *testing.T) {
	newFixture(t)
	c, _ := New("steal")
	err := c.Start(context.Background(), Target{Pools: []PoolTarget{{Name: "p", Cores: []int{0}}}})
	if !errors.Is(err, ErrNoData) {
		t.Errorf("Start without cgroups = %v, want ErrNoData", err)
	}
}

// stepClock makes each sample of the task samplers one second after the
// previous one.
func stepClock(t *testing.T) {
	now := time.Unix(1000, 0)
	sampleClock = func() time.Time { now = now.Add(time.Second); return now }
	t.Cleanup(func() { sampleClock = time.Now })
}

func TestCPUFixture(t *testing.T) {
	f := newFixture(t)
	stepClock(t)
	f.write("proc/sys/kernel/task_delayacct", "0")
	f.procStat([8]int{100, 0, 50, 1000, 10, 0, 0, 0}, [8]int{0, 0, 0, 1000, 0, 0, 0, 0})
	pool := "cgroup/cpuacct/polytropon/p0"
	f.write(pool+"/cpuacct.usage", "5000000000")
	f.write(pool+"/cpuacct.stat", "user 300\nsystem 200\n")
	f.write("cgroup/pids/polytropon/p0/cgroup.procs", "100\n")
	f.taskStat(100, 100, 7)
	f.taskStat(100, 101, 3)
	tgt := Target{Pools: []PoolTarget{{Name: "p0", Cores: []int{0},
		CgroupV1: map[string]string{"cpuacct": f.path(pool), "pids": f.path("cgroup/pids/polytropon/p0")}}}}

	c, _ := New("cpu")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	if got, _ := readString(f.path("proc/sys/kernel/task_delayacct")); got != "1" {
		t.Errorf("task_delayacct during the window = %q, want 1", got)
	}
	f.procStat([8]int{250, 0, 100, 1100, 40, 0, 0, 0}, [8]int{0, 0, 0, 1100, 5, 0, 0, 0})
	f.write(pool+"/cpuacct.usage", "7500000000")
	f.write(pool+"/cpuacct.stat", "user 450\nsystem 300\n")
	f.taskStat(100, 100, 27) // +20 ticks
	f.taskStat(100, 102, 5)  // a thread born in the window: +5
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeclared(t, "cpu", ms)
	if got, _ := readString(f.path("proc/sys/kernel/task_delayacct")); got != "0" {
		t.Errorf("task_delayacct after Stop = %q, want 0 (restored)", got)
	}
	for _, tt := range []struct {
		pool, name string
		want       float64
		labels     []string
	}{
		{"p0", "cpu_seconds", 2.5, nil},
		{"p0", "cpu_user_seconds", 1.5, nil},
		{"p0", "cpu_system_seconds", 1.0, nil},
		{"p0", "pool_cores_iowait_seconds", 0.3, nil},
		// Thread 101 vanished before the last sample: its count is lost
		// (documented); 100 gave 20 ticks, 102 gave 5.
		{"p0", "iowait_delay_seconds", 0.25, nil},
		{"", "host_iowait_seconds", 0.35, nil},
		{"", "cpu_core_busy_seconds", 2.0, []string{"core", "0"}},
		{"", "cpu_core_iowait_seconds", 0.05, []string{"core", "1"}},
	} {
		if got := one(t, ms, tt.pool, tt.name, tt.labels...); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%s %s %v = %v, want %v", tt.pool, tt.name, tt.labels, got, tt.want)
		}
	}
}

// TestIowaitDelayDropsSwitchOnArtifact: a thread blocked when delay
// accounting was switched on reports, when it wakes, the time since its
// last accounted block began (3360 s once, in a 15 s window); the
// increment exceeds the wall time between samples and is dropped, while
// the other threads' increments count.
func TestIowaitDelayDropsSwitchOnArtifact(t *testing.T) {
	f := newFixture(t)
	stepClock(t)
	f.write("proc/sys/kernel/task_delayacct", "1")
	f.procStat([8]int{100, 0, 50, 1000, 10, 0, 0, 0}, [8]int{0, 0, 0, 1000, 0, 0, 0, 0})
	f.write("cgroup/pids/polytropon/p0/cgroup.procs", "100\n")
	f.taskStat(100, 100, 0)
	f.taskStat(100, 101, 0)
	tgt := Target{Pools: []PoolTarget{{Name: "p0", Cores: []int{0},
		CgroupV1: map[string]string{"pids": f.path("cgroup/pids/polytropon/p0")}}}}
	c, _ := New("cpu")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	f.taskStat(100, 100, 336000) // woke up: "blocked" since long before
	f.taskStat(100, 101, 80)     // blocked 0.8 s of the 1 s
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := one(t, ms, "p0", "iowait_delay_seconds"); math.Abs(got-0.8) > 1e-9 {
		t.Errorf("iowait_delay_seconds = %v, want 0.8 (the artifact dropped)", got)
	}
}

func TestMemoryFixture(t *testing.T) {
	f := newFixture(t)
	v1 := "cgroup/memory/polytropon/p0"
	f.write(v1+"/memory.max_usage_in_bytes", "999999")
	f.write(v1+"/memory.usage_in_bytes", "1000")
	v2 := "cgroup2/polytropon/p1"
	f.write(v2+"/memory.peak", "888888\n")
	f.write(v2+"/memory.current", "2000\n")
	tgt := Target{Pools: []PoolTarget{
		{Name: "p0", CgroupV1: map[string]string{"memory": f.path(v1)}},
		{Name: "p1", CgroupV2: f.path(v2)},
	}}
	c, _ := New("memory")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	if got, _ := readString(f.path(v1 + "/memory.max_usage_in_bytes")); got != "0" {
		t.Errorf("v1 peak not reset at Start: %q", got)
	}
	f.write(v1+"/memory.max_usage_in_bytes", "4096")
	f.write(v1+"/memory.usage_in_bytes", "2048")
	f.write(v2+"/memory.peak", "8192\n")
	f.write(v2+"/memory.current", "1024\n")
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeclared(t, "memory", ms)
	if got := one(t, ms, "p0", "memory_peak_bytes", "peak_scope", "window"); got != 4096 {
		t.Errorf("p0 peak = %v, want 4096", got)
	}
	if got := one(t, ms, "p0", "memory_current_bytes"); got != 2048 {
		t.Errorf("p0 current = %v, want 2048", got)
	}
	if got := one(t, ms, "p1", "memory_peak_bytes"); got != 8192 {
		t.Errorf("p1 peak = %v, want 8192", got)
	}
	if got := one(t, ms, "p1", "memory_current_bytes"); got != 1024 {
		t.Errorf("p1 current = %v, want 1024", got)
	}
}

func TestCtxSwitchFixture(t *testing.T) {
	f := newFixture(t)
	status := func(pid, tid, vol, invol int) {
		f.write(fmt.Sprintf("proc/%d/task/%d/status", pid, tid),
			fmt.Sprintf("Name:\tx\nvoluntary_ctxt_switches:\t%d\nnonvoluntary_ctxt_switches:\t%d\n", vol, invol))
	}
	f.write("cgroup2/p/cgroup.procs", "10\n20\n")
	status(10, 10, 100, 5)
	status(20, 20, 50, 1)
	status(20, 21, 7, 0)
	tgt := Target{Pools: []PoolTarget{{Name: "p", CgroupV2: f.path("cgroup2/p")}}}
	c, _ := New("ctxswitch")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	status(10, 10, 130, 9)
	status(20, 20, 51, 1)
	status(20, 21, 17, 2)
	f.write("cgroup2/p/cgroup.procs", "10\n20\n30\n")
	status(30, 30, 4, 1) // a child forked in the window
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeclared(t, "ctxswitch", ms)
	if got := one(t, ms, "p", "ctx_switches_voluntary"); got != 30+1+10+4 {
		t.Errorf("voluntary = %v, want 45", got)
	}
	if got := one(t, ms, "p", "ctx_switches_involuntary"); got != 4+0+2+1 {
		t.Errorf("involuntary = %v, want 7", got)
	}
}

func TestPSIFixture(t *testing.T) {
	f := newFixture(t)
	psi := func(rel string, someTotal, fullTotal int, avg10 string) {
		f.write(rel, fmt.Sprintf("some avg10=%s avg60=0.00 avg300=0.00 total=%d\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=%d\n", avg10, someTotal, fullTotal))
	}
	psi("proc/pressure/io", 1000, 500, "0.00")
	psi("cgroup2/p/io.pressure", 100, 0, "0.00")
	tgt := Target{Pools: []PoolTarget{{Name: "p", CgroupV2: f.path("cgroup2/p")}}}
	c, _ := New("psi")
	if err := c.Start(context.Background(), tgt); err != nil {
		t.Fatal(err)
	}
	psi("proc/pressure/io", 2501000, 1000500, "12.50")
	psi("cgroup2/p/io.pressure", 500100, 0, "3.25")
	ms, err := c.Stop(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeclared(t, "psi", ms)
	for _, tt := range []struct {
		pool, name, kind string
		want             float64
	}{
		{"", "psi_stall_seconds", "some", 2.5},
		{"", "psi_stall_seconds", "full", 1.0},
		{"", "psi_avg10", "some", 12.5},
		{"p", "psi_stall_seconds", "some", 0.5},
		{"p", "psi_avg10", "some", 3.25},
	} {
		if got := one(t, ms, tt.pool, tt.name, "resource", "io", "kind", tt.kind); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("%q %s io/%s = %v, want %v", tt.pool, tt.name, tt.kind, got, tt.want)
		}
	}
	if got := find(ms, "", "psi_stall_seconds", "resource", "cpu"); len(got) != 0 {
		t.Errorf("cpu pressure reported without a file: %v", got)
	}
}

// bpftraceOutput is bpftrace's JSON for a window: waits of cgroup 1 (not
// a pool) and 77 (pool p0), and two of p0's locks.
var bpftraceOutput = []string{
	`{"type": "stats", "data": {"@w": {"1": {"count": 2, "average": 2500, "total": 5000}, "77": {"count": 3, "average": 1000, "total": 3000}}}}`,
	`{"type": "map", "data": {"@top": {"77,0xffff888100c75ac0,4": 2500, "77,0xffffffff8300b740,1": 500}}}`,
}

func TestParseBpftrace(t *testing.T) {
	tot, err := parseBpftrace(bpftraceOutput, map[uint64]string{77: "p0"})
	if err != nil {
		t.Fatal(err)
	}
	if tot.waitNs[""] != 8000 || tot.waitNs["p0"] != 3000 || tot.count[""] != 5 || tot.count["p0"] != 3 {
		t.Errorf("totals %+v", tot)
	}
	top := topLocks(tot.top["p0"], 1)
	if len(top) != 1 || top[0].addr != 0xffff888100c75ac0 || lockType(top[0].flags) != "rwsem:W" || top[0].ns != 2500 {
		t.Errorf("top lock %+v", top)
	}
}

func TestParseFtrace(t *testing.T) {
	f := &ftraceBackend{tot: newLockTotals(), open: map[int]ftraceBegin{}, poolOf: map[int]string{42: "p0", 7: ""}}
	for _, l := range []string{
		"            mv-42      [001] d..1.   100.000100: contention_begin: 0xffff888100c75ac0 (flags=WRITE)\n",
		"   kworker/0:1-7       [000] d..1.   100.000150: contention_begin: 0xffffffff8300b740 (flags=SPIN)\n",
		"            mv-42      [001] d..1.   100.000110: contention_begin: 0xffff888100c75ac0 (flags=MUTEX)\n", // nested: ignored
		"   kworker/0:1-7       [000] d..1.   100.000160: contention_end: 0xffffffff8300b740 (ret=0)\n",
		"            mv-42      [001] d..1.   100.000400: contention_end: 0xffff888100c75ac0 (ret=0)\n",
		"            mv-42      [001] d..1.   100.000500: contention_end: 0xffff888100c75ac0 (ret=0)\n", // unpaired
	} {
		f.parse(l)
	}
	if got := f.tot.waitNs["p0"]; got != 300000 {
		t.Errorf("p0 wait = %d ns, want 300000", got)
	}
	if got := f.tot.waitNs[""]; got != 310000 {
		t.Errorf("host wait = %d ns, want 310000", got)
	}
	if got := f.tot.count["p0"]; got != 1 {
		t.Errorf("p0 waits = %d, want 1", got)
	}
	if top := topLocks(f.tot.top["p0"], 5); len(top) != 1 || lockType(top[0].flags) != "rwsem:W" {
		t.Errorf("p0 top = %+v", top)
	}
}

func TestKallsyms(t *testing.T) {
	f := newFixture(t)
	f.write("proc/kallsyms", "ffffffff81000000 T _text\nffffffff8300b700 d jiffies_lock\nffffffff8300b740 D rename_lock\nffffffff8300c000 b end_marker\n")
	k := loadKallsyms()
	for addr, want := range map[uint64]string{
		0xffffffff8300b740: "rename_lock",
		0xffffffff8300b748: "rename_lock+0x8",
		0xffff888100c75ac0: "",
		0xffffffff81000010: "", // text, not data
	} {
		if got := k.resolve(addr); got != want {
			t.Errorf("resolve(%#x) = %q, want %q", addr, got, want)
		}
	}
}

func TestRegistered(t *testing.T) {
	for _, n := range []string{"cpu", "steal", "memory", "ctxswitch", "lockwait", "userlock", "psi"} {
		c, err := New(n)
		if err != nil || c.Name() != n {
			t.Errorf("New(%q) = %v, %v", n, c, err)
		}
	}
}

// checkDeclared: every metric a collector returns is one it declares,
// with the declared unit, labels and scope, so experiments can name it.
func checkDeclared(t *testing.T, collector string, ms []Metric) {
	t.Helper()
	ds, err := Produces(collector)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		i := slices.IndexFunc(ds, func(d results.MetricDecl) bool {
			return d.Name == m.Name || (d.Name == overheadPartName && isOverheadPart(m.Name))
		})
		if i < 0 {
			t.Errorf("%s returns %s, which it does not declare (metrics.Declare)", collector, m.Name)
			continue
		}
		d := ds[i]
		if d.Unit != m.Unit {
			t.Errorf("%s: unit %q, declared %q", m.Name, m.Unit, d.Unit)
		}
		for k := range m.Labels {
			if !slices.Contains(d.Labels, k) && !slices.Contains(d.Tags, k) {
				t.Errorf("%s: label %q is not declared (labels %v, tags %v)", m.Name, k, d.Labels, d.Tags)
			}
		}
		switch {
		case m.Pool == "" && d.Scope == results.ScopePool:
			t.Errorf("%s: a host-wide value, declared per pool", m.Name)
		case m.Pool != "" && d.Scope == results.ScopeHost:
			t.Errorf("%s: a value of pool %s, declared host-wide", m.Name, m.Pool)
		}
	}
}

func TestEveryCollectorDeclares(t *testing.T) {
	for _, n := range Names() {
		if _, err := Produces(n); err != nil {
			t.Error(err)
		}
	}
}

// namedBackend is a lock backend that only has a name: the metrics of
// parsed totals are built without tracing.
type namedBackend string

func (b namedBackend) name() string            { return string(b) }
func (namedBackend) helperCPU() time.Duration  { return 0 }
func (namedBackend) stop() (lockTotals, error) { return lockTotals{}, nil }

func TestLockwaitDeclared(t *testing.T) {
	tot, err := parseBpftrace(bpftraceOutput, map[uint64]string{77: "p0"})
	if err != nil {
		t.Fatal(err)
	}
	c := &lockwaitCollector{target: Target{Pools: []PoolTarget{{Name: "p0"}}}, backend: namedBackend("bpftrace"), o: newOverhead("lockwait")}
	ms := append(c.metrics(tot), c.o.metrics()...)
	if len(find(ms, "p0", "lock_wait_seconds")) != 1 {
		t.Fatalf("no lock_wait_seconds of p0 in %v", ms)
	}
	checkDeclared(t, "lockwait", ms)
}
