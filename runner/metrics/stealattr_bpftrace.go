package metrics

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The preferred backend of stealattr: bpftrace sums, in the kernel, how
// long each task ran on each pool core between two switches, and prints
// the sums once, at the end. Nothing reads events while the window runs.
// The ftrace backend (stealattr.go) has the kernel format every switch as
// a line of text that this process parses during the window; on D's IPC
// path (a few hundred thousand switches a second) that cost 0.5-0.7 of a
// core, taken from the very cores being measured: in the isolation runs
// it was most of the idle neighbour's steal.

// StealAttrBackend forces a backend: "bpftrace", "ftrace" or "" (bpftrace
// when installed, else ftrace).
var StealAttrBackend = ""

// stealAttrScript keeps, per pool core, when its running task started
// (@since) and who it is (@cur), and sums each finished interval per
// core, task, cgroup-v2 id and name (@run): the cgroup says whose task it
// was even when the task has exited by Stop (a workload's threads). The
// idle task's intervals are summed too and dropped by charge.
func stealAttrScript(cores []int) string {
	conds := make([]string, len(cores))
	for i, c := range cores {
		conds[i] = fmt.Sprintf("cpu == %d", c)
	}
	return `
tracepoint:sched:sched_switch /` + strings.Join(conds, " || ") + `/ {
	$t = @since[cpu];
	if ($t != 0) { @run[cpu, args->prev_pid, cgroup, args->prev_comm] = sum(nsecs - $t); }
	@since[cpu] = nsecs;
	@cur[cpu] = (args->next_pid, args->next_comm);
}
`
}

// startBpftrace starts the script and opens every pool core's first
// interval at once (kick), so the window starts when Start returns.
func (c *stealAttrCollector) startBpftrace(ctx context.Context) error {
	cores := make([]int, 0, len(c.onCore))
	for core := range c.onCore {
		cores = append(cores, core)
	}
	c.mu.Lock()
	c.snapshotTasks()
	c.mu.Unlock()
	bt, err := runBpftrace(ctx, stealAttrScript(cores), c.o)
	if err != nil {
		return err
	}
	c.bt = bt
	kick(cores)
	c.startNs = monotonicNs()
	return nil
}

// kick makes a switch on every core: a thread pinned there runs and
// sleeps. Until its first switch a core has no interval open, so a task
// that ran alone since before the window would otherwise go uncounted.
func kick(cores []int) {
	var wg sync.WaitGroup
	for _, core := range cores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// The thread ends with the goroutine: it keeps its affinity.
			runtime.LockOSThread()
			var set unix.CPUSet
			set.Set(core)
			if unix.SchedSetaffinity(0, &set) == nil {
				time.Sleep(time.Millisecond)
			}
		}()
	}
	wg.Wait()
}

func monotonicNs() uint64 {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano())
}

// stopBpftrace has bpftrace print its sums and charges them, plus each
// core's last interval up to now; called with mu held.
func (c *stealAttrCollector) stopBpftrace() error {
	stopNs := monotonicNs()
	out, err := c.bt.finish()
	if err != nil {
		return fmt.Errorf("metrics: stealattr: %w", err)
	}
	m, err := parseStealAttr(out)
	if err != nil {
		return fmt.Errorf("metrics: stealattr: %w", err)
	}
	byID := map[uint64]int{}
	for i, p := range c.target.Pools {
		if p.CgroupV2 == "" {
			continue
		}
		if id, err := cgroupID(p.CgroupV2); err == nil {
			byID[id] = i
		}
	}
	for k, ns := range m.run {
		// The cgroup the task ran in, from the kernel, decides its pool.
		if i, ok := byID[k.cg]; ok {
			c.poolOf[k.tid] = i
		}
		c.charge(k.cpu, k.tid, k.comm, float64(ns)/1e9)
	}
	for cpu, cur := range m.cur {
		if since, ok := m.since[cpu]; ok && since < stopNs {
			c.charge(cpu, cur.tid, cur.comm, float64(stopNs-since)/1e9)
		}
	}
	return nil
}

type stealAttrRun struct {
	cpu, tid int
	comm     string
	cg       uint64 // cgroup-v2 id (@run only)
}

type stealAttrMaps struct {
	run   map[stealAttrRun]uint64 // ns per core, task and name
	since map[int]uint64          // core -> start of its last interval
	cur   map[int]stealAttrRun    // core -> its running task
}

// parseStealAttr reads bpftrace's JSON maps:
//
//	{"type": "map", "data": {"@run": {"1,4242,5678,yes": 123456}}}
//	{"type": "map", "data": {"@since": {"1": 17677096529110}}}
//	{"type": "map", "data": {"@cur": {"1": [4242, "yes"]}}}
func parseStealAttr(lines []string) (stealAttrMaps, error) {
	m := stealAttrMaps{run: map[stealAttrRun]uint64{}, since: map[int]uint64{}, cur: map[int]stealAttrRun{}}
	for _, l := range lines {
		var msg struct {
			Type string                     `json:"type"`
			Data map[string]json.RawMessage `json:"data"`
		}
		if json.Unmarshal([]byte(l), &msg) != nil || msg.Type != "map" {
			continue
		}
		for name, raw := range msg.Data {
			var err error
			switch name {
			case "@run":
				err = parseStealAttrRun(raw, m.run)
			case "@since":
				err = parseStealAttrSince(raw, m.since)
			case "@cur":
				err = parseStealAttrCur(raw, m.cur)
			}
			if err != nil {
				return m, fmt.Errorf("bpftrace map %s: %w", name, err)
			}
		}
	}
	return m, nil
}

func parseStealAttrRun(raw json.RawMessage, into map[stealAttrRun]uint64) error {
	var vals map[string]uint64
	if err := json.Unmarshal(raw, &vals); err != nil {
		return err
	}
	for key, ns := range vals {
		// "cpu,tid,cgroup,comm"; a comm may hold commas itself.
		parts := strings.SplitN(key, ",", 4)
		if len(parts) != 4 {
			return fmt.Errorf("key %q is not cpu,tid,cgroup,comm", key)
		}
		cpu, err1 := strconv.Atoi(parts[0])
		tid, err2 := strconv.Atoi(parts[1])
		cg, err3 := strconv.ParseUint(parts[2], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return fmt.Errorf("key %q is not cpu,tid,cgroup,comm", key)
		}
		into[stealAttrRun{cpu, tid, parts[3], cg}] += ns
	}
	return nil
}

func parseStealAttrSince(raw json.RawMessage, into map[int]uint64) error {
	var vals map[string]uint64
	if err := json.Unmarshal(raw, &vals); err != nil {
		return err
	}
	for key, ns := range vals {
		cpu, err := strconv.Atoi(key)
		if err != nil {
			return fmt.Errorf("key %q is not a cpu", key)
		}
		into[cpu] = ns
	}
	return nil
}

func parseStealAttrCur(raw json.RawMessage, into map[int]stealAttrRun) error {
	var vals map[string][]json.RawMessage
	if err := json.Unmarshal(raw, &vals); err != nil {
		return err
	}
	for key, v := range vals {
		cpu, err := strconv.Atoi(key)
		var tid int
		var comm string
		if err != nil || len(v) != 2 || json.Unmarshal(v[0], &tid) != nil || json.Unmarshal(v[1], &comm) != nil {
			return fmt.Errorf("entry %q is not cpu: [tid, comm]", key)
		}
		into[cpu] = stealAttrRun{cpu: cpu, tid: tid, comm: comm}
	}
	return nil
}

// snapshotTasks classifies every task alive now, for the ones that end
// before Stop classifies what ran; called with mu held.
func (c *stealAttrCollector) snapshotTasks() {
	c.early = map[int]earlyTask{}
	procs, _ := os.ReadDir(procPath())
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		tasks, _ := os.ReadDir(procPath(p.Name(), "task"))
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			c.early[tid] = earlyTask{key: c.key(tid), pool: c.poolIndex(tid)}
		}
	}
	// Classify again at Stop: a task may change cgroups in between.
	c.tasks, c.poolOf = map[int]taskKey{}, map[int]int{}
}

// earlyTask is how a task was classified at Start.
type earlyTask struct {
	key  taskKey
	pool int
}

// SlowStart: bpftrace compiles and attaches in Start.
func (c *stealAttrCollector) SlowStart() bool { return StealAttrBackend != "ftrace" }
