package pool

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/internal/testenv"
)

// The pool engine on a cgroup-v2-only host for real (the guest of
// scripts/guest.sh; on hosts without one these skip).

// TestCgroupV2Limits: cpuset and memory limits are written and read back,
// a process started in the pool is confined to them, and memory.peak
// records what it used.
func TestCgroupV2Limits(t *testing.T) {
	requirePools(t)
	testenv.RequireCgroup2(t)
	host := hostCores(t)
	core := host[len(host)-1]
	const limit = 64 << 20
	p := mustCreate(t, Spec{Name: "v2", Cores: []int{core}, MemoryBytes: limit, Namespaces: true, Group: testGroup(t)})
	dir := p.CgroupV2()
	if p.CgroupV1() != nil {
		t.Errorf("v1 paths on a unified host: %v", p.CgroupV1())
	}
	if !strings.HasPrefix(dir, "/sys/fs/cgroup/") {
		t.Fatalf("pool cgroup %q is not under /sys/fs/cgroup", dir)
	}
	for file, want := range map[string]string{"cpuset.cpus": strconv.Itoa(core), "memory.max": strconv.Itoa(limit), "cpuset.cpus.effective": strconv.Itoa(core)} {
		if got := readTrim(t, filepath.Join(dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	out := strings.Fields(runIn(t, p, "grep Cpus_allowed_list /proc/self/status; cat /proc/self/cgroup"))
	rel := strings.TrimPrefix(dir, "/sys/fs/cgroup")
	if len(out) != 3 || out[1] != strconv.Itoa(core) || out[2] != "0::"+rel {
		t.Errorf("process in the pool: %q; want Cpus_allowed_list %d and cgroup 0::%s", out, core, rel)
	}
	// 40 MiB buffered by tail fit under the limit and show in memory.peak.
	runIn(t, p, "head -c 40M /dev/zero | tail -c 40M >/dev/null")
	peak, err := strconv.ParseInt(readTrim(t, filepath.Join(dir, "memory.peak")), 10, 64)
	if err != nil || peak < 40<<20 || peak > limit {
		t.Errorf("memory.peak = %d (%v), want between 40 MiB and the %d limit", peak, err, limit)
	}
	// 200 MiB do not: the kernel kills the hog inside the pool.
	var stderr strings.Builder
	err = p.Run(context.Background(), Cmd{Path: "sh", Args: []string{"sh", "-c", "head -c 200M /dev/zero | tail -c 200M >/dev/null"}, Stderr: &stderr})
	if err == nil {
		t.Error("200 MiB held in a pool limited to 64 MiB: the memory limit is not applied")
	}
	ev := readTrim(t, filepath.Join(dir, "memory.events"))
	if !strings.Contains(ev, "oom_kill 1") && !strings.Contains(ev, "oom_kill 2") {
		t.Errorf("memory.events after the hog: %q, want an oom_kill", ev)
	}
}

// TestCgroupV2Kill: Destroy kills through cgroup.kill what left the
// engine's tree, in a pool without its own PID namespace (where killing
// the engine kills nothing else).
func TestCgroupV2Kill(t *testing.T) {
	requirePools(t)
	testenv.RequireCgroup2(t)
	p, err := Create(context.Background(), Spec{Name: "kill", Cores: hostCores(t)[:1], Group: testGroup(t)})
	if err != nil {
		t.Fatal(err)
	}
	dir := p.CgroupV2()
	// A daemon that ignores SIGTERM and is nobody's child in the pool.
	out := runIn(t, p, "setsid sh -c 'trap \"\" TERM HUP; exec sleep 1000' </dev/null >/dev/null 2>&1 & echo $!")
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("daemon pid %q: %v", out, err)
	}
	if err := p.Destroy(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for unix.Kill(pid, 0) == nil && !zombie(pid) {
		if time.Now().After(deadline) {
			unix.Kill(pid, unix.SIGKILL)
			t.Fatalf("daemon %d survived Destroy", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("pool cgroup %s left after Destroy (%v)", dir, err)
	}
}

// zombie reports whether pid has exited but is not reaped yet.
func zombie(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] == "Z"
}
