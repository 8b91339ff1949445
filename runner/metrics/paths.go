package metrics

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Lock order: every mutex of this package is a leaf (taskSampler.mu,
// ftraceBackend.mu, tail.mu, switchMu): none is held while taking another.

// Host roots, node_exporter style (--path.procfs, --path.sysfs): tests
// point them at fixture trees. Pool cgroup paths in Targets are absolute and
// are used as given.
var (
	ProcRoot    = "/proc"
	CgroupRoot  = "/sys/fs/cgroup" // v1 hierarchies at <root>/<controller>, or the v2 mount
	TracingRoot = "/sys/kernel/tracing"
)

func procPath(parts ...string) string {
	return filepath.Join(append([]string{ProcRoot}, parts...)...)
}

func readString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func readUint(path string) (uint64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("metrics: %s: %w", path, err)
	}
	return v, nil
}

// readUints reads a line of space-separated unsigned integers
// (cpuacct.usage_percpu).
func readUints(path string) ([]uint64, error) {
	s, err := readString(path)
	if err != nil {
		return nil, err
	}
	var out []uint64
	for _, f := range strings.Fields(s) {
		v, err := strconv.ParseUint(f, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %s: %w", path, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// readKV reads "key value" lines (cpu.stat, cpuacct.stat, memory.stat).
func readKV(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		if v, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			out[f[0]] = v
		}
	}
	return out, nil
}

// cgroupPids lists the processes of a cgroup directory (cgroup.procs).
func cgroupPids(dir string) []int {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// poolPids returns the pool's processes: its cgroup's list (which includes
// every child) when there is one, else the pids the runner knows.
func poolPids(p PoolTarget) []int {
	for _, dir := range []string{p.CgroupV2, p.CgroupV1["pids"], p.CgroupV1["cpuacct"], p.CgroupV1["memory"], p.CgroupV1["cpuset"]} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err == nil {
			return cgroupPids(dir)
		}
	}
	return p.PIDs
}

// threads lists the thread ids of a process.
func threads(pid int) []int {
	entries, err := os.ReadDir(procPath(strconv.Itoa(pid), "task"))
	if err != nil {
		return nil
	}
	tids := make([]int, 0, len(entries))
	for _, e := range entries {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids
}

// statFields returns the fields of a /proc/.../stat file after the command
// name, so that fields[0] is field 3 (state) of proc(5).
func statFields(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil, fmt.Errorf("metrics: %s: no command name", path)
	}
	return strings.Fields(string(b[i+1:])), nil
}

// statField returns field n (1-based, as in proc(5)) of a stat file.
func statField(fields []string, n int) uint64 {
	if i := n - 3; i >= 0 && i < len(fields) {
		v, _ := strconv.ParseUint(fields[i], 10, 64)
		return v
	}
	return 0
}

// userHZ is the unit of clock ticks in /proc (USER_HZ, 100 on Linux).
const userHZ = 100

// threadCPU returns the CPU time the calling OS thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// overhead accounts a collector's own CPU time: its Start and Stop work
// (measured on a locked thread), its background goroutines and its helper
// processes (bpftrace). Stop reports it as collector_overhead_cores: the
// CPU used after Start returned, per second of window. Start runs before
// the measured phase, so its cost (bpftrace compiling its program) is
// reported apart, as collector_overhead_start_seconds. The labels of these
// metrics name only the collector, so that every repetition adds a sample
// to the same series.
type overhead struct {
	name    string
	begin   time.Time
	cpu     time.Duration
	startup time.Duration
	extra   chan time.Duration       // from background goroutines
	parts   map[string]time.Duration // named parts of cpu, reported as collector_overhead_<part>_seconds
}

func newOverhead(name string) *overhead {
	return &overhead{name: name, begin: time.Now(), extra: make(chan time.Duration, 64)}
}

// started marks the end of Start; helperCPU is CPU that helper processes
// used so far (and will be counted again in their total at Stop).
func (o *overhead) started(helperCPU time.Duration) {
	o.startup = o.cpu + helperCPU
	o.begin = time.Now()
}

// measure runs f on a locked OS thread and adds the thread CPU time it used.
func (o *overhead) measure(f func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	f()
	o.cpu += threadCPU() - t0
}

// goroutine runs f on its own locked thread, adding its CPU time when done.
func (o *overhead) goroutine(f func()) {
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		t0 := threadCPU()
		f()
		o.extra <- threadCPU() - t0
	}()
}

// processCPU returns the CPU time (utime+stime) a live process used.
func processCPU(pid int) time.Duration {
	f, err := statFields(procPath(strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	ticks := statField(f, 14) + statField(f, 15)
	return time.Duration(ticks) * time.Second / userHZ
}

func (o *overhead) addDuration(d time.Duration) { o.cpu += d }

// addPart records a named part of the CPU time already counted (e.g. the
// in-kernel run time of BPF programs), reported as its own metric.
func (o *overhead) addPart(name string, d time.Duration) {
	if o.parts == nil {
		o.parts = map[string]time.Duration{}
	}
	o.parts[name] += d
}

// metrics drains the goroutine reports and returns the overhead metrics:
// collector_overhead_cores (CPU seconds per wall-clock second of the
// window, Start excluded), collector_overhead_cpu_seconds (all CPU time,
// Start included), collector_overhead_start_seconds (Start's CPU time) and
// one collector_overhead_<part>_seconds per part.
func (o *overhead) metrics() []Metric {
	for {
		select {
		case d := <-o.extra:
			o.cpu += d
			continue
		default:
		}
		break
	}
	window := time.Since(o.begin).Seconds()
	v := 0.0
	if window > 0 {
		v = max(o.cpu-o.startup, 0).Seconds() / window
	}
	label := func() map[string]string { return map[string]string{"collector": o.name} }
	ms := []Metric{
		{Name: "collector_overhead_cores", Unit: "cores", Value: v, Labels: label()},
		{Name: "collector_overhead_cpu_seconds", Unit: "s", Value: o.cpu.Seconds(), Labels: label()},
		{Name: "collector_overhead_start_seconds", Unit: "s", Value: o.startup.Seconds(), Labels: label()},
	}
	parts := make([]string, 0, len(o.parts))
	for p := range o.parts {
		parts = append(parts, p)
	}
	sort.Strings(parts)
	for _, p := range parts {
		ms = append(ms, Metric{Name: "collector_overhead_" + p + "_seconds", Unit: "s", Value: o.parts[p].Seconds(), Labels: label()})
	}
	return ms
}

// The parent-death signal of helper processes (bpftrace) fires when the
// thread that forked them exits, and the Go runtime ends threads whose
// goroutine exits while locked to them. Helpers are therefore forked from
// one locked thread that never exits.
var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnReqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: lives as long as the process
			for req := range spawnReqs {
				req()
			}
		}()
	})
	done := make(chan struct{})
	spawnReqs <- func() { f(); close(done) }
	<-done
}

// Kernel switches that collectors turn on for their window
// (kernel.task_delayacct, kernel.bpf_stats_enabled) are reference-counted,
// so that overlapping collectors do not switch them off under each other;
// the last one restores the value it found.
var (
	switchMu   sync.Mutex // a leaf
	switchRefs = map[string]int{}
	switchOld  = map[string]string{}
)

// enableSwitch writes "1" to a /proc/sys file that reads "0"; it reports
// whether the caller holds a reference to release with releaseSwitch.
func enableSwitch(path string) bool {
	switchMu.Lock()
	defer switchMu.Unlock()
	if switchRefs[path] > 0 {
		switchRefs[path]++
		return true
	}
	old, err := readString(path)
	if err != nil || old != "0" {
		return false // already on (or absent): nothing to restore
	}
	if os.WriteFile(path, []byte("1"), 0) != nil {
		return false
	}
	switchRefs[path], switchOld[path] = 1, old
	return true
}

func releaseSwitch(path string) {
	switchMu.Lock()
	defer switchMu.Unlock()
	if switchRefs[path] == 0 {
		return
	}
	if switchRefs[path]--; switchRefs[path] == 0 {
		os.WriteFile(path, []byte(switchOld[path]), 0)
		delete(switchOld, path)
	}
}
