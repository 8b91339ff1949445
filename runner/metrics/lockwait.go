package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// lockwait: kernel lock waits per pool, from the lock:contention_begin /
// lock:contention_end tracepoints (CONFIG_LOCK_STAT is not needed).
//
// Preferred backend: bpftrace, aggregating in the kernel per cgroup-v2 id
// (the inode of the pool's label directory): total wait, count, and wait per
// (lock address, flags). Fallback: a raw ftrace instance
// (instances/polytropon-<pid>-<n>) whose trace_pipe is read in user space;
// begin/end are paired per thread and the thread's pool found from
// /proc/<pid>/cgroup. Tracefs is mounted at TracingRoot when missing.
//
// Metrics: per pool and host-wide ("" = every task, kernel threads
// included): lock_wait_seconds, lock_waits (count); per pool
// lock_wait_type_seconds by lock type (from the flags: spinlock, rwlock:R,
// rwsem:W, mutex, ...), and lock_wait_top_seconds for those of the pool's
// LockwaitTop most waited-for locks that /proc/kallsyms resolves (static
// locks), labelled with type and symbol. Labels name only stable
// identities, so every repetition adds a sample to the same series: a heap
// lock's address (an inode's rwsem) differs from one repetition to the next
// and is not reported; its wait counts in its type. Label backend says which
// backend ran. The BPF programs run in the traced tasks' context;
// the collector switches on kernel.bpf_stats_enabled for the window and adds
// their run time (run_time_ns in the fdinfo of bpftrace's program fds) to
// collector_overhead_cores, next to bpftrace's own CPU time, and reports it
// alone as collector_overhead_bpf_run_seconds.

func init() { Register("lockwait", func() Collector { return &lockwaitCollector{} }) }

var (
	// LockwaitBackend forces a backend: "bpftrace", "ftrace" or "" (try
	// bpftrace, then ftrace).
	LockwaitBackend = ""
	// LockwaitTop is how many top locks per pool are reported.
	LockwaitTop = 5
	// bpftraceStartTimeout bounds bpftrace's compile and attach.
	bpftraceStartTimeout = 30 * time.Second
)

type lockwaitCollector struct {
	o       *overhead
	target  Target
	backend lockBackend
}

// lockBackend is one way to observe the tracepoints.
type lockBackend interface {
	name() string
	stop() (lockTotals, error)
}

// lockTotals are the waits of one window. Key "" = host-wide.
type lockTotals struct {
	waitNs map[string]uint64
	count  map[string]uint64
	top    map[string]map[lockKey]uint64 // pool -> lock -> wait ns
}

type lockKey struct {
	addr  uint64
	flags uint32
}

func newLockTotals() lockTotals {
	return lockTotals{waitNs: map[string]uint64{}, count: map[string]uint64{}, top: map[string]map[lockKey]uint64{}}
}

func (l lockTotals) add(pool string, k lockKey, ns uint64) {
	l.waitNs[""] += ns
	l.count[""]++
	if pool == "" {
		return
	}
	l.waitNs[pool] += ns
	l.count[pool]++
	if l.top[pool] == nil {
		l.top[pool] = map[lockKey]uint64{}
	}
	l.top[pool][k] += ns
}

func (c *lockwaitCollector) Name() string { return "lockwait" }

func (c *lockwaitCollector) Start(ctx context.Context, t Target) error {
	c.o = newOverhead("lockwait")
	c.target = t
	var errs []error
	if err := ensureTracefs(); err != nil {
		return fmt.Errorf("%w: lockwait: %v", ErrNoData, err)
	}
	if LockwaitBackend == "" || LockwaitBackend == "bpftrace" {
		var b lockBackend
		var err error
		c.o.measure(func() { b, err = startBpftrace(ctx, t, c.o) })
		if err == nil {
			c.backend = b
			c.o.started(processCPU(b.(*bpftraceBackend).cmd.Process.Pid))
			return nil
		}
		errs = append(errs, err)
	}
	if LockwaitBackend == "" || LockwaitBackend == "ftrace" {
		var b lockBackend
		var err error
		c.o.measure(func() { b, err = startFtrace(ctx, t, c.o) })
		if err == nil {
			c.backend = b
			c.o.started(0)
			return nil
		}
		errs = append(errs, err)
	}
	return fmt.Errorf("%w: lockwait: %v", ErrNoData, errors.Join(errs...))
}

func (c *lockwaitCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.backend == nil {
		return nil, fmt.Errorf("metrics: lockwait: Stop without a successful Start")
	}
	var tot lockTotals
	c.o.measure(func() {
		tot, err = c.backend.stop()
		if err != nil {
			return
		}
		backend := map[string]string{"backend": c.backend.name()}
		pools := append([]string{""}, poolNames(c.target)...)
		var syms *kallsyms
		for _, p := range pools {
			ms = append(ms,
				Metric{Pool: p, Name: "lock_wait_seconds", Unit: "s", Value: float64(tot.waitNs[p]) / 1e9, Labels: backend},
				Metric{Pool: p, Name: "lock_waits", Unit: "count", Value: float64(tot.count[p]), Labels: backend},
			)
			if p == "" || len(tot.top[p]) == 0 {
				continue
			}
			byType := map[string]uint64{}
			for k, ns := range tot.top[p] {
				byType[lockType(k.flags)] += ns
			}
			for _, typ := range slices.Sorted(maps.Keys(byType)) {
				ms = append(ms, Metric{Pool: p, Name: "lock_wait_type_seconds", Unit: "s", Value: float64(byType[typ]) / 1e9,
					Labels: map[string]string{"backend": c.backend.name(), "type": typ}})
			}
			for _, tl := range topLocks(tot.top[p], LockwaitTop) {
				if tl.addr < kernelImageBase {
					continue // a heap lock: no identity that outlives the repetition
				}
				if syms == nil {
					syms = cachedKallsyms() // slow (~0.3 s): only for static locks
				}
				sym := syms.resolve(tl.addr)
				if sym == "" {
					continue
				}
				labels := map[string]string{"backend": c.backend.name(), "type": lockType(tl.flags), "symbol": sym}
				ms = append(ms, Metric{Pool: p, Name: "lock_wait_top_seconds", Unit: "s", Value: float64(tl.ns) / 1e9, Labels: labels})
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return append(ms, c.o.metrics()...), nil
}

func poolNames(t Target) []string {
	var n []string
	for _, p := range t.Pools {
		n = append(n, p.Name)
	}
	return n
}

type topLock struct {
	lockKey
	ns uint64
}

func topLocks(m map[lockKey]uint64, n int) []topLock {
	var all []topLock
	for k, v := range m {
		all = append(all, topLock{k, v})
	}
	sort.Slice(all, func(i, j int) bool {
		if all[i].ns != all[j].ns {
			return all[i].ns > all[j].ns
		}
		return all[i].addr < all[j].addr
	})
	if len(all) > n {
		all = all[:n]
	}
	return all
}

// Lock contention flags (include/trace/events/lock.h).
const (
	lcbSpin   = 1 << 0
	lcbRead   = 1 << 1
	lcbWrite  = 1 << 2
	lcbRT     = 1 << 3
	lcbPercpu = 1 << 4
	lcbMutex  = 1 << 5
)

// lockType names a lock the way `perf lock contention` does.
func lockType(flags uint32) string {
	switch flags {
	case lcbSpin:
		return "spinlock"
	case lcbSpin | lcbRead:
		return "rwlock:R"
	case lcbSpin | lcbWrite:
		return "rwlock:W"
	case lcbRead:
		return "rwsem:R"
	case lcbWrite:
		return "rwsem:W"
	case lcbRT:
		return "rt-mutex"
	case lcbRT | lcbRead:
		return "rwlock-rt:R"
	case lcbRT | lcbWrite:
		return "rwlock-rt:W"
	case lcbPercpu | lcbRead:
		return "pcpu-sem:R"
	case lcbPercpu | lcbWrite:
		return "pcpu-sem:W"
	case lcbMutex:
		return "mutex"
	case lcbMutex | lcbSpin:
		return "mutex-spin"
	case 0:
		return "semaphore"
	}
	return fmt.Sprintf("flags:0x%x", flags)
}

// ensureTracefs mounts tracefs at TracingRoot when its events are missing.
func ensureTracefs() error {
	if _, err := os.Stat(filepath.Join(TracingRoot, "events", "lock", "contention_begin")); err == nil {
		return nil
	}
	if err := unix.Mount("nodev", TracingRoot, "tracefs", 0, ""); err != nil && err != unix.EBUSY {
		return fmt.Errorf("mount tracefs at %s: %w", TracingRoot, err)
	}
	if _, err := os.Stat(filepath.Join(TracingRoot, "events", "lock", "contention_begin")); err != nil {
		return fmt.Errorf("no lock:contention_begin tracepoint: %w", err)
	}
	return nil
}

// cgroupID is the id bpf_get_current_cgroup_id returns for tasks in dir:
// the inode number of the cgroup-v2 directory.
func cgroupID(dir string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// ---- bpftrace backend ----

type bpftraceBackend struct {
	cmd       *exec.Cmd
	o         *overhead
	ids       map[uint64]string // cgroup id -> pool
	lines     chan string       // bpftrace's JSON output after attach
	done      chan struct{}     // closed when the process is reaped
	waitErr   error
	once      sync.Once
	bpfStats  bool // holds a reference on kernel.bpf_stats_enabled
	statsOnce sync.Once
	stderr    tail
}

func (b *bpftraceBackend) name() string { return "bpftrace" }

// bpftraceScript aggregates waits per cgroup id; per lock only for the
// pools' cgroups (a bounded map).
func bpftraceScript(ids []uint64) string {
	cond := "0"
	if len(ids) > 0 {
		var parts []string
		for _, id := range ids {
			parts = append(parts, fmt.Sprintf("$cg == %d", id))
		}
		cond = strings.Join(parts, " || ")
	}
	// One tuple map per thread and one stats map keep the in-kernel cost
	// per event low. A nested begin (mutex: optimistic spin, then sleep)
	// restarts the pair, so spinning before a sleep is not counted.
	return `
tracepoint:lock:contention_begin { @s[tid] = (nsecs, args->lock_addr, args->flags, cgroup); }
tracepoint:lock:contention_end {
	$t = @s[tid];
	if ($t.0 != 0) {
		$d = nsecs - $t.0; $cg = $t.3;
		@w[$cg] = stats($d);
		if (` + cond + `) { @top[$cg, $t.1, $t.2] = sum($d); }
		delete(@s[tid]);
	}
}
END { clear(@s); }
`
}

func startBpftrace(ctx context.Context, t Target, o *overhead) (lockBackend, error) {
	path, err := exec.LookPath("bpftrace")
	if err != nil {
		return nil, fmt.Errorf("bpftrace: %w (apt-get install bpftrace)", err)
	}
	b := &bpftraceBackend{o: o, ids: map[uint64]string{}, lines: make(chan string, 1024), done: make(chan struct{})}
	var ids []uint64
	for _, p := range t.Pools {
		if p.CgroupV2 == "" {
			continue
		}
		id, err := cgroupID(p.CgroupV2)
		if err != nil {
			return nil, fmt.Errorf("bpftrace: cgroup id of pool %s: %w", p.Name, err)
		}
		b.ids[id] = p.Name
		ids = append(ids, id)
	}
	b.bpfStats = enableSwitch(bpfStatsPath())
	b.cmd = exec.Command(path, "-f", "json", "-e", bpftraceScript(ids))
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	b.cmd.Env = append(os.Environ(), "BPFTRACE_STRLEN=64")
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr := &b.stderr
	b.cmd.Stderr = stderr
	var startErr error
	onSpawnThread(func() { startErr = b.cmd.Start() })
	if startErr != nil {
		b.restoreBPFStats()
		return nil, fmt.Errorf("bpftrace: %w", startErr)
	}
	attached := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		seen := false
		for sc.Scan() {
			line := sc.Text()
			if !seen && strings.Contains(line, `"attached_probes"`) {
				seen = true
				close(attached)
				continue
			}
			if seen && strings.TrimSpace(line) != "" {
				b.lines <- line
			}
		}
		io.Copy(io.Discard, stdout)
		b.waitErr = b.cmd.Wait()
		close(b.lines)
		close(b.done)
	}()
	// Stop bpftrace with the context.
	go func() {
		select {
		case <-ctx.Done():
			b.kill()
			b.restoreBPFStats()
		case <-b.done:
		}
	}()
	select {
	case <-attached:
		return b, nil
	case <-b.done:
		b.restoreBPFStats()
		return nil, fmt.Errorf("bpftrace exited before attaching: %v: %s", b.waitErr, stderr.String())
	case <-ctx.Done():
		b.kill()
		<-b.done
		b.restoreBPFStats()
		return nil, ctx.Err()
	case <-time.After(bpftraceStartTimeout):
		b.kill()
		<-b.done
		b.restoreBPFStats()
		return nil, fmt.Errorf("bpftrace did not attach within %v: %s", bpftraceStartTimeout, stderr.String())
	}
}

func bpfStatsPath() string { return procPath("sys", "kernel", "bpf_stats_enabled") }

func (b *bpftraceBackend) restoreBPFStats() {
	b.statsOnce.Do(func() {
		if b.bpfStats {
			releaseSwitch(bpfStatsPath())
		}
	})
}

// bpfRunTime sums run_time_ns of the BPF programs process pid holds.
func bpfRunTime(pid int) time.Duration {
	dir := procPath(strconv.Itoa(pid), "fdinfo")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var total time.Duration
	for _, e := range entries {
		kv, err := readKV(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		if _, isProg := kv["prog_type:"]; isProg {
			total += time.Duration(kv["run_time_ns:"])
		}
	}
	return total
}

func (b *bpftraceBackend) kill() {
	b.once.Do(func() {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	})
}

func (b *bpftraceBackend) stop() (lockTotals, error) {
	bpfRun := bpfRunTime(b.cmd.Process.Pid)
	b.o.addDuration(bpfRun)
	b.o.addPart("bpf_run", bpfRun)
	b.restoreBPFStats()
	// SIGINT: bpftrace runs END and prints the maps.
	b.cmd.Process.Signal(syscall.SIGINT)
	var out []string
	again := time.After(5 * time.Second)
	timeout := time.After(20 * time.Second)
	killed := false
collect:
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				break collect
			}
			out = append(out, l)
		case <-again:
			b.cmd.Process.Signal(syscall.SIGINT) // a loaded host can lose the race with startup
		case <-timeout:
			killed = true
			b.kill()
		}
	}
	<-b.done
	if st := b.cmd.ProcessState; st != nil {
		b.o.addDuration(st.UserTime() + st.SystemTime())
	}
	if killed {
		return lockTotals{}, fmt.Errorf("metrics: lockwait: bpftrace did not print its maps within 20 s of SIGINT; killed (%s)", b.stderr.String())
	}
	return parseBpftrace(out, b.ids)
}

// parseBpftrace reads bpftrace's JSON map output.
func parseBpftrace(lines []string, ids map[uint64]string) (lockTotals, error) {
	tot := newLockTotals()
	found := false
	for _, l := range lines {
		var m struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(l), &m) != nil || m.Type != "map" && m.Type != "stats" {
			continue
		}
		for name, raw := range m.Data {
			if name == "@w" { // stats(): {"<cgroup id>": {"count": n, "average": a, "total": t}}
				var st map[string]struct{ Count, Total uint64 }
				if json.Unmarshal(raw, &st) != nil {
					continue
				}
				found = true
				for key, v := range st {
					id, err := strconv.ParseUint(key, 10, 64)
					if err != nil {
						continue
					}
					tot.waitNs[""] += v.Total
					tot.count[""] += v.Count
					if pool := ids[id]; pool != "" {
						tot.waitNs[pool] += v.Total
						tot.count[pool] += v.Count
					}
				}
				continue
			}
			var vals map[string]uint64
			if json.Unmarshal(raw, &vals) != nil {
				continue
			}
			found = true
			for key, v := range vals {
				parts := strings.Split(key, ",")
				id, err := strconv.ParseUint(parts[0], 10, 64)
				if err != nil {
					continue
				}
				pool := ids[id]
				switch name {
				case "@top":
					if pool == "" || len(parts) != 3 {
						continue
					}
					addr, _ := strconv.ParseUint(strings.TrimPrefix(parts[1], "0x"), 16, 64)
					flags, _ := strconv.ParseUint(parts[2], 10, 32)
					if tot.top[pool] == nil {
						tot.top[pool] = map[lockKey]uint64{}
					}
					tot.top[pool][lockKey{addr, uint32(flags)}] += v
				}
			}
		}
	}
	if !found && len(lines) == 0 {
		// No map printed: no contention at all in the window.
		return tot, nil
	}
	return tot, nil
}

// tail keeps the end of a process's stderr for error messages.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 2048 {
		t.b = t.b[len(t.b)-2048:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.b))
}

// ---- kallsyms ----

// kernelImageBase is where the x86-64 kernel image (and its static data)
// starts; locks below it live in the heap and have no symbol.
const kernelImageBase = 0xffffffff80000000

var (
	kallsymsOnce sync.Once
	kallsymsTab  *kallsyms
)

// cachedKallsyms loads /proc/kallsyms once per process (it does not change
// while the kernel runs).
func cachedKallsyms() *kallsyms {
	kallsymsOnce.Do(func() { kallsymsTab = loadKallsyms() })
	return kallsymsTab
}

type kallsyms struct {
	addrs []uint64
	names []string
}

func loadKallsyms() *kallsyms {
	k := &kallsyms{}
	f, err := os.Open(procPath("kallsyms"))
	if err != nil {
		return k
	}
	defer f.Close()
	type sym struct {
		a uint64
		n string
	}
	var syms []sym
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fl := strings.Fields(sc.Text())
		if len(fl) < 3 {
			continue
		}
		// Data symbols only: locks live in data, bss or rodata.
		switch fl[1] {
		case "d", "D", "b", "B", "r", "R":
		default:
			continue
		}
		a, err := strconv.ParseUint(fl[0], 16, 64)
		if err != nil || a == 0 {
			continue
		}
		syms = append(syms, sym{a, fl[2]})
	}
	sort.Slice(syms, func(i, j int) bool { return syms[i].a < syms[j].a })
	for _, s := range syms {
		k.addrs = append(k.addrs, s.a)
		k.names = append(k.names, s.n)
	}
	return k
}

// resolve names a static lock ("symbol" or "symbol+0xoff"); "" for heap
// addresses (locks inside inodes, dentries, ...).
func (k *kallsyms) resolve(addr uint64) string {
	if k == nil || len(k.addrs) == 0 {
		return ""
	}
	i := sort.Search(len(k.addrs), func(i int) bool { return k.addrs[i] > addr }) - 1
	if i < 0 || i == len(k.addrs)-1 {
		return "" // below the first or beyond the last data symbol
	}
	off := addr - k.addrs[i]
	if off >= 1<<16 {
		return ""
	}
	if off == 0 {
		return k.names[i]
	}
	return fmt.Sprintf("%s+0x%x", k.names[i], off)
}
