package pool

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/internal/testenv"
)

func TestMain(m *testing.M) {
	MaybeRunInit() // documents it; the package init already ran engines
	if g := os.Getenv(envCrashTest); g != "" {
		crashTestRunner(g) // never returns
	}
	os.Exit(m.Run())
}

// requirePools skips unless this host can provision pools for real.
func requirePools(t testing.TB) {
	t.Helper()
	testenv.RequireRoot(t, "cgroups, namespaces")
	if _, err := os.Stat(filepath.Join(cgroupRoot, "cpuset", "cgroup.procs")); err != nil {
		if _, err2 := os.Stat(filepath.Join(cgroupRoot, "cgroup.controllers")); err2 != nil {
			t.Skipf("needs a cgroup hierarchy at %s: %v", cgroupRoot, err)
		}
	}
}

func testGroup(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' {
			return r
		}
		return '_'
	}, t.Name())
	return fmt.Sprintf("polytropon-test/%s-%d", name, os.Getpid())
}

func hostCores(t testing.TB) []int {
	t.Helper()
	cores, err := HostCores()
	if err != nil || len(cores) == 0 {
		t.Fatalf("HostCores: %v %v", cores, err)
	}
	return cores
}

func mustCreate(t testing.TB, s Spec) *Pool {
	t.Helper()
	p, err := Create(context.Background(), s)
	if err != nil {
		t.Fatalf("Create(%+v): %v", s, err)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background()); err != nil {
			t.Errorf("Destroy %s: %v", s.Name, err)
		}
	})
	return p
}

// runIn runs a shell script inside the pool and returns its stdout.
func runIn(t testing.TB, p *Pool, script string) string {
	t.Helper()
	var out, errb bytes.Buffer
	err := p.Run(context.Background(), Cmd{Path: "sh", Args: []string{"sh", "-c", script}, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("pool %s: sh -c %q: %v (stderr %q)", p.Name(), script, err, errb.String())
	}
	return out.String()
}

func TestPlan(t *testing.T) {
	tests := []struct {
		n, per, host int
		want         [][]int
		over         bool
	}{
		{1, 2, 2, [][]int{{0, 1}}, false},
		{2, 2, 4, [][]int{{0, 1}, {2, 3}}, false},
		{2, 2, 2, [][]int{{0, 1}, {0, 1}}, true},
		{3, 1, 2, [][]int{{0}, {1}, {0}}, true},
		{2, 2, 3, [][]int{{0, 1}, {2, 0}}, true},
		{1, 4, 2, [][]int{{0, 1}}, true},
		{0, 2, 2, nil, false},
	}
	for _, tt := range tests {
		got, over := Plan(tt.n, tt.per, tt.host)
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || over != tt.over {
			t.Errorf("Plan(%d, %d, %d) = %v, %v; want %v, %v", tt.n, tt.per, tt.host, got, over, tt.want, tt.over)
		}
	}
	// 32 pools of 2 cores on 2 cores: every pool has 2 distinct cores.
	got, over := Plan(32, 2, 2)
	if len(got) != 32 || !over {
		t.Fatalf("Plan(32, 2, 2): %d pools, oversubscribed %v; want 32, true", len(got), over)
	}
	for i, c := range got {
		if len(c) != 2 || c[0] == c[1] {
			t.Errorf("pool %d cores %v, want 2 distinct", i, c)
		}
	}
}

func TestSpecValidation(t *testing.T) {
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"empty name", Spec{Cores: []int{0}}, "Name"},
		{"slash in name", Spec{Name: "a/b", Cores: []int{0}}, "Name"},
		{"dotdot group", Spec{Name: "a", Group: "x/../y", Cores: []int{0}}, "Group"},
		{"no cores", Spec{Name: "a"}, "Cores is empty"},
		{"negative core", Spec{Name: "a", Cores: []int{-1}}, "core -1"},
		{"duplicate core", Spec{Name: "a", Cores: []int{1, 1}}, "listed twice"},
		{"negative memory", Spec{Name: "a", Cores: []int{0}, MemoryBytes: -5}, "MemoryBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Create(context.Background(), tt.spec)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Create: got %v, want ErrInvalidSpec naming %q", err, tt.want)
			}
		})
	}
}

// TestTwoPools checks from inside two pools that each process is born in
// its pool's cgroups, cores and namespaces.
func TestTwoPools(t *testing.T) {
	requirePools(t)
	host := hostCores(t)
	group := testGroup(t)
	const mem = 256 << 20
	pools := []*Pool{
		mustCreate(t, Spec{Name: "pa", Cores: host[:1], MemoryBytes: mem, Namespaces: true, Group: group}),
		mustCreate(t, Spec{Name: "pb", Cores: host[len(host)-1:], MemoryBytes: mem, Namespaces: true, Group: group}),
	}
	hostIPC, _ := os.Readlink("/proc/self/ns/ipc")
	hostPID, _ := os.Readlink("/proc/self/ns/pid")
	for _, p := range pools {
		out := runIn(t, p, `
			echo "hostname=$(hostname)"
			echo "pid1=$(tr '\0' ' ' < /proc/1/cmdline)"
			echo "mypid=$$"
			echo "ipc=$(readlink /proc/self/ns/ipc)"
			echo "pidns=$(readlink /proc/self/ns/pid)"
			grep Cpus_allowed_list /proc/self/status | tr -d '\t' | sed 's/:/=/'
			mempath=$(grep ':memory:' /proc/self/cgroup | cut -d: -f3)
			if [ -n "$mempath" ]; then # v1 (hybrid or legacy host)
				echo "memlimit=$(cat /sys/fs/cgroup/memory$mempath/memory.limit_in_bytes)"
			else # v2 only
				echo "memlimit=$(cat /sys/fs/cgroup$(grep '^0::' /proc/self/cgroup | cut -d: -f3)/memory.max)"
			fi
			cat /proc/self/cgroup | sed 's/^/cgroup=/'`)
		kv := map[string][]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, "=")
			kv[k] = append(kv[k], v)
		}
		first := func(k string) string {
			if len(kv[k]) == 0 {
				return ""
			}
			return kv[k][0]
		}
		if got := first("hostname"); got != p.Name() {
			t.Errorf("%s: hostname %q, want %q", p.Name(), got, p.Name())
		}
		if got := first("pid1"); !strings.HasPrefix(got, "polytropon-pool-engine "+p.Name()) {
			t.Errorf("%s: /proc/1/cmdline %q, want the pool engine", p.Name(), got)
		}
		if got := first("mypid"); got == "" || got == strconv.Itoa(os.Getpid()) {
			t.Errorf("%s: pid inside %q", p.Name(), got)
		}
		if got := first("ipc"); got == "" || got == hostIPC {
			t.Errorf("%s: IPC namespace %q, want one different from the host's %q", p.Name(), got, hostIPC)
		}
		if got := first("pidns"); got == "" || got == hostPID {
			t.Errorf("%s: PID namespace %q, want one different from the host's %q", p.Name(), got, hostPID)
		}
		if got, want := first("Cpus_allowed_list"), cpuList(p.Cores()); got != want {
			t.Errorf("%s: affinity %q, want %q", p.Name(), got, want)
		}
		if got := first("memlimit"); got != strconv.Itoa(mem) {
			t.Errorf("%s: memory limit %q, want %d", p.Name(), got, mem)
		}
		want := "/" + group + "/" + p.Name()
		v1 := []string{"cpuset", "cpu", "cpuacct", "memory", "pids"}
		if p.CgroupV1() == nil {
			v1 = nil // a unified host: the one v2 directory below is all
		}
		for _, ctrl := range v1 {
			if !slices.ContainsFunc(kv["cgroup"], func(l string) bool {
				return strings.HasSuffix(l, ":"+ctrl+":"+want) || strings.Contains(l, ":"+ctrl+",") && strings.HasSuffix(l, want)
			}) {
				t.Errorf("%s: /proc/self/cgroup has no %s:%s in %q", p.Name(), ctrl, want, kv["cgroup"])
			}
		}
		if !slices.Contains(kv["cgroup"], "0::"+want) {
			t.Errorf("%s: /proc/self/cgroup has no unified label 0::%s in %q", p.Name(), want, kv["cgroup"])
		}
		// The runner's view agrees.
		pids, err := p.PIDs()
		if err != nil || !slices.Contains(pids, p.EnginePid()) {
			t.Errorf("%s: PIDs() = %v, %v; want the engine %d in it", p.Name(), pids, err, p.EnginePid())
		}
	}
}

// TestShmIsolation: a SysV segment made in one pool is visible to another
// process of that pool only.
func TestShmIsolation(t *testing.T) {
	requirePools(t)
	host := hostCores(t)
	group := testGroup(t)
	a := mustCreate(t, Spec{Name: "shma", Cores: host, Namespaces: true, Group: group})
	b := mustCreate(t, Spec{Name: "shmb", Cores: host, Namespaces: true, Group: group})
	id := strings.TrimSpace(runIn(t, a, `ipcmk -M 4096 | awk '{print $NF}'`))
	if id == "" {
		t.Fatal("ipcmk printed no id")
	}
	// segment returns the "key id" of the segment in an ipcs -m listing.
	segment := func(out string) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[1] == id {
				return f[0] + " " + f[1]
			}
		}
		return ""
	}
	seg := segment(runIn(t, a, "ipcs -m"))
	if seg == "" {
		t.Fatalf("segment %s not visible to a second process of pool shma", id)
	}
	if out := runIn(t, b, "ipcs -m"); segment(out) == seg {
		t.Errorf("segment %s of pool shma visible in pool shmb:\n%s", seg, out)
	}
	out, err := exec.Command("ipcs", "-m").Output()
	if err != nil {
		t.Fatalf("ipcs on the host: %v", err)
	}
	if segment(string(out)) == seg {
		t.Errorf("segment %s of pool shma visible on the host:\n%s", seg, out)
	}
}

func TestProcessLifecycle(t *testing.T) {
	requirePools(t)
	host := hostCores(t)
	p := mustCreate(t, Spec{Name: "life", Cores: host, Namespaces: true, Group: testGroup(t)})
	ctx := context.Background()

	t.Run("exit status", func(t *testing.T) {
		err := p.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "exit 7"}})
		var ee *ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Errorf("Run(exit 7) = %v, want ExitError with code 7", err)
		}
	})
	t.Run("stdio", func(t *testing.T) {
		var out bytes.Buffer
		err := p.Run(ctx, Cmd{Path: "tr", Args: []string{"tr", "a-z", "A-Z"}, Stdin: strings.NewReader("hello pool"), Stdout: &out})
		if err != nil || out.String() != "HELLO POOL" {
			t.Errorf("tr: got %q, %v; want %q", out.String(), err, "HELLO POOL")
		}
	})
	t.Run("env and dir", func(t *testing.T) {
		dir := t.TempDir()
		var out bytes.Buffer
		err := p.Run(ctx, Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", `echo "$X $(pwd)"`}, Env: []string{"X=42"}, Dir: dir, Stdout: &out})
		if want := "42 " + dir + "\n"; err != nil || out.String() != want {
			t.Errorf("got %q, %v; want %q", out.String(), err, want)
		}
	})
	t.Run("signal", func(t *testing.T) {
		proc, err := p.Start(ctx, Cmd{Path: "sleep", Args: []string{"sleep", "60"}})
		if err != nil {
			t.Fatal(err)
		}
		if proc.Pid == proc.PoolPid {
			t.Errorf("host pid %d equals pool pid: want a separate PID namespace", proc.Pid)
		}
		// Start returns once the process exists; its exec may still be
		// under way (cmdline reads empty meanwhile).
		var b []byte
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			b, err = os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", proc.Pid))
			if (err == nil && strings.HasPrefix(string(b), "sleep\x0060")) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil || !strings.HasPrefix(string(b), "sleep\x0060") {
			t.Errorf("host /proc/%d/cmdline = %q, %v; want sleep 60", proc.Pid, b, err)
		}
		if err := proc.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		var ee *ExitError
		if err := proc.Wait(); !errors.As(err, &ee) || ee.Status.Signal() != syscall.SIGTERM {
			t.Errorf("Wait after SIGTERM = %v, want killed by SIGTERM", err)
		}
		if err := proc.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal after exit = %v, want os.ErrProcessDone", err)
		}
	})
	t.Run("bad path", func(t *testing.T) {
		if _, err := p.Start(ctx, Cmd{Path: "/nonexistent/prog"}); err == nil {
			t.Error("Start(/nonexistent/prog) succeeded")
		}
	})
	t.Run("orphans reaped", func(t *testing.T) {
		runIn(t, p, "(sleep 0.2 &) ; exit 0")
		time.Sleep(600 * time.Millisecond)
		pids, err := p.PIDs()
		if err != nil {
			t.Fatal(err)
		}
		// Zombies leave cgroup.procs but stay in their parent's children
		// list until reaped.
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", p.EnginePid()))
		for _, f := range tasks {
			if b, _ := os.ReadFile(f); len(bytes.TrimSpace(b)) > 0 {
				t.Errorf("engine still has children %q (zombies not reaped)", b)
			}
		}
		if len(pids) != 1 || pids[0] != p.EnginePid() {
			t.Errorf("pool processes after the orphan exited: %v, want only the engine %d", pids, p.EnginePid())
		}
	})
}

func TestHostNamespaces(t *testing.T) {
	requirePools(t)
	host := hostCores(t)
	p := mustCreate(t, Spec{Name: "flat", Cores: host[:1], Group: testGroup(t)})
	var out bytes.Buffer
	proc, err := p.Start(context.Background(), Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "echo $$; readlink /proc/self/ns/pid; grep Cpus_allowed_list /proc/self/status"}, Stdout: &out})
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Wait(); err != nil {
		t.Fatal(err)
	}
	hostPID, _ := os.Readlink("/proc/self/ns/pid")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || lines[0] != strconv.Itoa(proc.Pid) || lines[1] != hostPID || !strings.HasSuffix(lines[2], cpuList(host[:1])) {
		t.Errorf("got %q; want pid %d, pid ns %s, cores %s", lines, proc.Pid, hostPID, cpuList(host[:1]))
	}
}

// TestDestroy: nothing is left, whatever ran in the pool, and a cancelled
// context (the Ctrl-C path) does not stop the cleanup.
func TestDestroy(t *testing.T) {
	requirePools(t)
	host := hostCores(t)
	for _, ns := range []bool{true, false} {
		t.Run(fmt.Sprintf("namespaces=%v", ns), func(t *testing.T) {
			group := testGroup(t)
			p, err := Create(context.Background(), Spec{Name: "doomed", Cores: host, MemoryBytes: 64 << 20, Namespaces: ns, Group: group})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { p.Destroy(context.Background()) })
			// A process that forks a detached grandchild.
			proc, err := p.Start(context.Background(), Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "setsid sleep 100 & sleep 100"}})
			if err != nil {
				t.Fatal(err)
			}
			waitFor(t, func() bool { pids, _ := p.PIDs(); return len(pids) >= 3 })
			pids, _ := p.PIDs()
			dirs := append(mapValues(p.CgroupV1()), p.CgroupV2())

			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			if err := p.Destroy(ctx); err != nil {
				t.Fatalf("Destroy with a cancelled context: %v", err)
			}
			if err := p.Destroy(context.Background()); err != nil {
				t.Errorf("second Destroy: %v", err)
			}
			assertGone(t, pids, dirs, group)
			if err := proc.Wait(); !errors.Is(err, ErrEngineGone) {
				var ee *ExitError
				if !errors.As(err, &ee) || ee.Status.Signal() != syscall.SIGKILL {
					t.Errorf("Wait after Destroy = %v, want ErrEngineGone or SIGKILL", err)
				}
			}
			if _, err := p.Start(context.Background(), Cmd{Path: "/bin/true"}); !errors.Is(err, ErrDestroyed) {
				t.Errorf("Start after Destroy = %v, want ErrDestroyed", err)
			}
		})
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertGone checks that no process and no cgroup directory is left.
func assertGone(t *testing.T, pids []int, dirs []string, group string) {
	t.Helper()
	for _, pid := range pids {
		if state := procState(pid); state != "" && state != "Z" && state != "X" {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("process %d (%q) still alive, state %s", pid, b, state)
		}
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup %s still exists", d)
		}
	}
	for _, c := range []string{"unified", "cpuset", "cpu", "cpuacct", "memory", "pids", "blkio"} {
		if _, err := os.Stat(filepath.Join(cgroupRoot, c, group)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("group dir %s left in %s", group, c)
		}
	}
}

// procState is the state letter of a process ("" when it is gone). A
// zombie (Z) is dead: its parent (the host's init, after a crash) reaps it.
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	if f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])); len(f) > 0 {
		return f[0]
	}
	return ""
}

const envCrashTest = "POLYTROPON_POOL_CRASH_TEST"

// crashTestRunner is a runner that creates pools, prints their pids and
// waits to be SIGKILLed.
func crashTestRunner(group string) {
	cores, _ := HostCores()
	var all []int
	for i, ns := range []bool{true, false} {
		p, err := Create(context.Background(), Spec{Name: fmt.Sprintf("c%d", i), Cores: cores, Namespaces: ns, Group: group})
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		if _, err := p.Start(context.Background(), Cmd{Path: "/bin/sh", Args: []string{"sh", "-c", "setsid sleep 100 & sleep 100"}}); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if pids, _ := p.PIDs(); len(pids) >= 3 {
				all = append(all, pids...)
				break
			}
		}
	}
	fmt.Println("PIDS", strings.Trim(fmt.Sprint(all), "[]"))
	select {}
}

// TestSweepAfterRunnerCrash: a runner is SIGKILLed with live pools;
// Sweep removes every process and cgroup it left.
func TestSweepAfterRunnerCrash(t *testing.T) {
	requirePools(t)
	group := testGroup(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envCrashTest+"="+group)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); Sweep(group) })
	buf := make([]byte, 4096)
	var line string
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(line, "\n") && time.Now().Before(deadline); {
		n, err := stdout.Read(buf)
		line += string(buf[:n])
		if err != nil {
			break
		}
	}
	pidsText, ok := strings.CutPrefix(strings.TrimSpace(line), "PIDS ")
	if !ok {
		t.Fatalf("crash runner said %q", line)
	}
	var pids []int
	for _, f := range strings.Fields(pidsText) {
		pid, _ := strconv.Atoi(f)
		pids = append(pids, pid)
	}
	if len(pids) < 6 {
		t.Fatalf("crash runner reported pids %v, want 3 per pool", pids)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	// The flat pool's processes outlive the runner; only Sweep ends them.
	if err := Sweep(group); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	assertGone(t, pids, nil, group)
	if err := Sweep(group); err != nil {
		t.Errorf("second Sweep: %v", err)
	}
}

// TestMountPropagation: a mount the runner makes under a shared run dir
// after Create is visible inside the pool; a mount made inside the pool is
// not visible on the host.
func TestMountPropagation(t *testing.T) {
	requirePools(t)
	run := t.TempDir()
	release, err := ShareMounts(run)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := release(); err != nil {
			t.Error(err)
		}
	})
	p := mustCreate(t, Spec{Name: "mnt", Cores: hostCores(t), Namespaces: true, Group: testGroup(t)})

	later := filepath.Join(run, "later")
	inner := filepath.Join(run, "inner")
	for _, d := range []string{later, inner} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Mount("tmpfs", later, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(later, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(later, "marker"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := runIn(t, p, "cat "+filepath.Join(later, "marker")); got != "from host" {
		t.Errorf("inside the pool, the host's later mount shows %q, want %q", got, "from host")
	}
	runIn(t, p, fmt.Sprintf("mount -t tmpfs -o size=1m tmpfs %s && echo in > %s/f", inner, inner))
	if got := runIn(t, p, "cat "+filepath.Join(inner, "f")); got != "in\n" {
		t.Errorf("pool's own mount lost inside the pool: %q", got)
	}
	if b, err := os.ReadFile(p.HostPath(filepath.Join(inner, "f"))); err != nil || string(b) != "in\n" {
		t.Errorf("HostPath view of the pool's mount: %q, %v; want %q", b, err, "in\n")
	}
	if ok, _ := isMountPoint(inner); ok {
		unix.Unmount(inner, unix.MNT_DETACH)
		t.Errorf("the pool's mount at %s propagated to the host", inner)
	}
	if _, err := os.Stat(filepath.Join(inner, "f")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("file of the pool's mount visible on the host: %v", err)
	}
}
