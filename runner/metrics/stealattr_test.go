package metrics_test

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"polytropon/runner/metrics"
)

// TestStealAttrFindsIntruder: a busy program with a distinctive name,
// pinned to a pool's core from outside the pool, is found by name in the
// pool's steal attribution with about the CPU time it used, and the
// attributed seconds add up to the steal collector's cpu_steal_seconds
// over the same window within 10%.
func TestStealAttrFindsIntruder(t *testing.T) {
	requireRoot(t)
	for _, backend := range []string{"bpftrace", "ftrace"} {
		t.Run(backend, func(t *testing.T) {
			old := metrics.StealAttrBackend
			metrics.StealAttrBackend = backend
			defer func() { metrics.StealAttrBackend = old }()
			testStealAttrFindsIntruder(t)
		})
	}
}

func testStealAttrFindsIntruder(t *testing.T) {
	cores := hostCores(t)
	core := cores[len(cores)-1]
	p := newPool(t, "victim", []int{core})
	startIn(t, p, nil, "sleep", "60") // the pool's own task, never charged
	tgt := metrics.Target{Pools: []metrics.PoolTarget{metrics.TargetPool(p)}}

	// A copy of yes(1) named after this test: its comm is the name.
	name := fmt.Sprintf("intrude%d", os.Getpid()%100000)
	bin := filepath.Join(t.TempDir(), name)
	copyFile(t, "/usr/bin/yes", bin)

	var cols []metrics.Collector
	// stealattr's window (start to stop marker) holds steal's: steal
	// starts last and stops first.
	for _, n := range []string{"stealattr", "steal"} {
		cols = append(cols, startCollector(t, n, tgt))
	}
	intruder := exec.Command("taskset", "-c", strconv.Itoa(core), bin)
	if err := intruder.Start(); err != nil {
		t.Fatal(err)
	}
	// A task of the pool's own that starts after Start and exits before
	// Stop (as a workload's threads do) is not steal either.
	own := fmt.Sprintf("own%d", os.Getpid()%100000)
	ownBin := filepath.Join(t.TempDir(), own)
	copyFile(t, "/usr/bin/yes", ownBin)
	ownProc := startIn(t, p, nil, "/usr/bin/timeout", "0.3", ownBin)
	// Until it has used enough CPU to be told from noise: on a loaded
	// host that takes longer than on a quiet one.
	for deadline := time.Now().Add(time.Minute); taskCPU(intruder.Process.Pid) < 0.5 && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	cpu := taskCPU(intruder.Process.Pid)
	intruder.Process.Kill()
	intruder.Wait()
	ownProc.Wait()
	var ms []metrics.Metric
	for i := len(cols) - 1; i >= 0; i-- {
		got, err := cols[i].Stop(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, got...)
	}

	seconds, ok := value(ms, "victim", "steal_attr_task_seconds", "task", name)
	if !ok {
		t.Fatalf("the intruder %s is not among the pool's steal tasks: %v", name, ms)
	}
	if seconds < 0.1 || math.Abs(seconds-cpu) > 0.2*cpu+0.05 {
		t.Errorf("intruder: %.3f s attributed, it used %.3f s of CPU", seconds, cpu)
	}
	total, _ := value(ms, "victim", "steal_attr_total_seconds")
	steal, _ := value(ms, "victim", "cpu_steal_seconds")
	if math.Abs(total-steal) > 0.1*steal {
		t.Errorf("attributed %.3f s, measured steal %.3f s: want within 10%%", total, steal)
	}
	owns := []string{"sleep"}
	if metrics.StealAttrBackend == "bpftrace" {
		// The ftrace backend classifies a task when its reader gets to
		// it, which may be after the task exited on a loaded host.
		owns = append(owns, own)
	}
	for _, name := range owns {
		if s, counted := value(ms, "victim", "steal_attr_task_seconds", "task", name); counted {
			t.Errorf("the pool's own task %s is counted as steal (%.3f s)", name, s)
		}
	}
	t.Logf("intruder %.3f s (cpu %.3f s); attributed %.3f s of %.3f s steal", seconds, cpu, total, steal)
}

// taskCPU is the user+system time of a process, in seconds.
func taskCPU(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	var f []string
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f = strings.Fields(s[i+1:])
	}
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Skipf("needs %s: %v", from, err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
