package metrics

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The preferred backend of the lockwait collector: a bpftrace script that
// aggregates the waits in the kernel per cgroup, started for the window
// and asked for its maps (JSON) at the end.

// bpftraceStartTimeout bounds bpftrace's compile and attach: LLVM on an
// emulated CPU (the guest of scripts/guest.sh) needs more than 30 s.
var bpftraceStartTimeout = 3 * time.Minute

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

func (b *bpftraceBackend) helperCPU() time.Duration { return processCPU(b.cmd.Process.Pid) }

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

// startBpftrace returns once bpftrace's probes are attached; bpftrace is
// killed when ctx ends.
func startBpftrace(ctx context.Context, t Target, o *overhead) (lockBackend, error) {
	ids, byID, err := poolCgroupIDs(t.Pools)
	if err != nil {
		return nil, err
	}
	b, err := runBpftrace(ctx, bpftraceScript(ids), o)
	if err != nil {
		return nil, err
	}
	b.ids = byID
	return b, nil
}

// runBpftrace starts bpftrace on script and returns once its probes are
// attached; bpftrace is killed when ctx ends. finish ends it.
func runBpftrace(ctx context.Context, script string, o *overhead) (*bpftraceBackend, error) {
	path, err := exec.LookPath("bpftrace")
	if err != nil {
		return nil, fmt.Errorf("bpftrace: %w (apt-get install bpftrace)", err)
	}
	b := &bpftraceBackend{o: o, lines: make(chan string, 1024), done: make(chan struct{})}
	attached, err := b.launch(path, script)
	if err != nil {
		return nil, err
	}
	stopOnCancel(ctx, b.done, func() {
		b.kill()
		b.restoreBPFStats()
	})
	if err := b.waitAttached(ctx, attached); err != nil {
		return nil, err
	}
	return b, nil
}

// poolCgroupIDs maps the cgroup id of each pool that has a cgroup-v2
// directory to the pool, and returns the ids in the pools' order.
func poolCgroupIDs(pools []PoolTarget) ([]uint64, map[uint64]string, error) {
	var ids []uint64
	byID := map[uint64]string{}
	for _, p := range pools {
		if p.CgroupV2 == "" {
			continue
		}
		id, err := cgroupID(p.CgroupV2)
		if err != nil {
			return nil, nil, fmt.Errorf("bpftrace: cgroup id of pool %s: %w", p.Name, err)
		}
		byID[id] = p.Name
		ids = append(ids, id)
	}
	return ids, byID, nil
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

// launch starts bpftrace on script and a reader of its output; attached
// is closed once bpftrace says its probes are attached.
func (b *bpftraceBackend) launch(path, script string) (attached <-chan struct{}, err error) {
	b.bpfStats = enableSwitch(bpfStatsPath())
	b.cmd = exec.Command(path, "-f", "json", "-e", script)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	b.cmd.Env = append(os.Environ(), "BPFTRACE_STRLEN=64")
	stdout, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	b.cmd.Stderr = &b.stderr
	var startErr error
	onSpawnThread(func() { startErr = b.cmd.Start() })
	if startErr != nil {
		b.restoreBPFStats()
		return nil, fmt.Errorf("bpftrace: %w", startErr)
	}
	ch := make(chan struct{})
	go b.read(stdout, ch)
	return ch, nil
}

// read passes the output lines that follow the attach message to b.lines,
// then reaps bpftrace.
func (b *bpftraceBackend) read(stdout io.Reader, attached chan<- struct{}) {
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
}

// waitAttached waits until bpftrace has attached its probes; on failure
// bpftrace is gone when it returns.
func (b *bpftraceBackend) waitAttached(ctx context.Context, attached <-chan struct{}) error {
	select {
	case <-attached:
		return nil
	case <-b.done:
		b.restoreBPFStats()
		return fmt.Errorf("bpftrace exited before attaching: %v: %s", b.waitErr, b.stderr.String())
	case <-ctx.Done():
		b.abort()
		return ctx.Err()
	case <-time.After(bpftraceStartTimeout):
		b.abort()
		return fmt.Errorf("bpftrace did not attach within %v: %s", bpftraceStartTimeout, b.stderr.String())
	}
}

// abort kills bpftrace and waits until it is reaped.
func (b *bpftraceBackend) abort() {
	b.kill()
	<-b.done
	b.restoreBPFStats()
}

func bpfStatsPath() string { return procPath("sys", "kernel", "bpf_stats_enabled") }

// restoreBPFStats drops the backend's reference on
// kernel.bpf_stats_enabled, once.
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

// kill kills bpftrace's process group, once.
func (b *bpftraceBackend) kill() {
	b.once.Do(func() {
		syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	})
}

// stop returns the totals of bpftrace's maps.
func (b *bpftraceBackend) stop() (lockTotals, error) {
	out, err := b.finish()
	if err != nil {
		return lockTotals{}, fmt.Errorf("metrics: lockwait: %w", err)
	}
	return parseBpftrace(out, b.ids)
}

// finish has bpftrace print its maps and exit, adds the BPF programs' run
// time and bpftrace's CPU time to the overhead, and returns its output.
func (b *bpftraceBackend) finish() ([]string, error) {
	bpfRun := bpfRunTime(b.cmd.Process.Pid)
	b.o.addDuration(bpfRun)
	b.o.addPart("bpf_run", bpfRun)
	b.restoreBPFStats()
	out, killed := b.printMaps()
	<-b.done
	if st := b.cmd.ProcessState; st != nil {
		b.o.addDuration(st.UserTime() + st.SystemTime())
	}
	if killed {
		return nil, fmt.Errorf("bpftrace did not print its maps within 20 s of SIGINT; killed (%s)", b.stderr.String())
	}
	return out, nil
}

// printMaps has bpftrace run END, which prints the maps, and returns its
// output; killed reports that it was killed before it finished.
func (b *bpftraceBackend) printMaps() (out []string, killed bool) {
	b.cmd.Process.Signal(syscall.SIGINT)
	again := time.After(5 * time.Second)
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				return out, killed
			}
			out = append(out, l)
		case <-again:
			b.cmd.Process.Signal(syscall.SIGINT) // a loaded host can lose the race with startup
		case <-timeout:
			killed = true
			b.kill()
		}
	}
}

// parseBpftrace reads bpftrace's JSON map output. No map at all means no
// contention in the window.
func parseBpftrace(lines []string, ids map[uint64]string) (lockTotals, error) {
	tot := newLockTotals()
	for _, l := range lines {
		var m struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(l), &m) != nil || m.Type != "map" && m.Type != "stats" {
			continue
		}
		for name, raw := range m.Data {
			switch name {
			case "@w":
				addBpftraceWaits(tot, raw, ids)
			case "@top":
				addBpftraceTop(tot, raw, ids)
			}
		}
	}
	return tot, nil
}

// addBpftraceWaits adds @w, stats() per cgroup id:
// {"<cgroup id>": {"count": n, "average": a, "total": t}}.
func addBpftraceWaits(tot lockTotals, raw json.RawMessage, ids map[uint64]string) {
	var st map[string]struct{ Count, Total uint64 }
	if json.Unmarshal(raw, &st) != nil {
		return
	}
	for key, v := range st {
		id, err := strconv.ParseUint(key, 10, 64)
		if err != nil {
			continue
		}
		tot.addWaits(ids[id], v.Total, v.Count)
	}
}

// addBpftraceTop adds @top, sum() per lock of the pools' cgroups:
// {"<cgroup id>,<lock address>,<flags>": ns}.
func addBpftraceTop(tot lockTotals, raw json.RawMessage, ids map[uint64]string) {
	var vals map[string]uint64
	if json.Unmarshal(raw, &vals) != nil {
		return
	}
	for key, v := range vals {
		parts := strings.Split(key, ",")
		id, err := strconv.ParseUint(parts[0], 10, 64)
		if err != nil {
			continue
		}
		pool := ids[id]
		if pool == "" || len(parts) != 3 {
			continue
		}
		flags, _ := strconv.ParseUint(parts[2], 10, 32)
		tot.addTop(pool, lockKey{parseAddr(parts[1]), uint32(flags)}, v)
	}
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
