package metrics

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"polytropon/results"
)

// stealattr: who ran on each pool's cores while it was measured, that is
// what the steal collector's cpu_steal_seconds consists of. Every
// interval between two sched:sched_switch events on a pool's core is
// charged to the task that ran: summed in the kernel by bpftrace
// (stealattr_bpftrace.go, preferred) or read from a private ftrace
// instance's pipe (here). Per pool, the time of tasks outside the pool's cgroup is
//
//   - steal_attr_seconds{class}: by task class: "flusher" (kworker doing
//     write-back, "+flush-" in its name), "kworker", "loop", "jbd2",
//     "kswapd", "softirq", "rcu", "kernel" (other kernel threads),
//     "pool:<name>" (another pool's services and workloads), "harness"
//     (this runner and its collectors' helpers), "host" (anything else);
//   - steal_attr_cgroup_seconds{cgroup}: by cgroup-v2 path ("kernel" for
//     kernel threads);
//   - steal_attr_task_seconds{task}: the ten tasks (by name) with most;
//   - steal_attr_total_seconds: their sum (compare cpu_steal_seconds).
//
// Task names come from the trace (prev_comm); a task's class and cgroup
// are read from /proc when it first runs (ftrace) or at Stop, falling back
// to what Start saw (bpftrace); a task that came and went unseen is "host"
// in cgroup "unknown", or a kernel class by its name.

func init() {
	Register("stealattr", func() Collector { return &stealAttrCollector{} })
	Declare("stealattr",
		results.MetricDecl{Name: "steal_attr_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"class"}},
		results.MetricDecl{Name: "steal_attr_cgroup_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"cgroup"}},
		results.MetricDecl{Name: "steal_attr_task_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"task"}},
		results.MetricDecl{Name: "steal_attr_total_seconds", Unit: "s", Agg: results.AggSum},
	)
}

type stealAttrCollector struct {
	o      *overhead
	target Target
	tp     *tracePipe       // the ftrace backend
	bt     *bpftraceBackend // or the bpftrace backend (stealattr_bpftrace.go)
	self   int              // this process's pid: the harness

	startNs uint64            // bpftrace: CLOCK_MONOTONIC at the window's start
	early   map[int]earlyTask // bpftrace: the tasks alive at Start

	mu      sync.Mutex
	start   float64               // trace time of the start marker (0: not seen yet)
	end     float64               // trace time of the stop marker
	last    float64               // trace time of the latest line read
	running map[int]runningTask   // cpu -> current task
	onCore  map[int]int           // cpu -> index of its pool (-1: no pool)
	charged []map[taskKey]float64 // per pool: seconds per outside task
	tasks   map[int]taskKey       // tid -> class, cgroup, name (nil pool: its own)
	poolOf  map[int]int           // tid -> pool index, -1 outside every pool
}

type runningTask struct {
	tid   int
	since float64
}

type taskKey struct{ class, cgroup, name string }

const (
	stealStartMark = "polytropon-stealattr-start"
	stealStopMark  = "polytropon-stealattr-stop"
)

// stealAttrDrain bounds the wait, at Stop, for the reader to reach the
// stop marker.
const stealAttrDrain = 10 * time.Second

func (c *stealAttrCollector) Name() string { return "stealattr" }

func (c *stealAttrCollector) Start(ctx context.Context, t Target) error {
	c.o = newOverhead("stealattr")
	c.target, c.self = t, os.Getpid()
	c.running, c.onCore, c.tasks, c.poolOf = map[int]runningTask{}, map[int]int{}, map[int]taskKey{}, map[int]int{}
	c.charged = make([]map[taskKey]float64, len(t.Pools))
	for i, p := range t.Pools {
		c.charged[i] = map[taskKey]float64{}
		for _, core := range p.Cores {
			c.onCore[core] = i
		}
	}
	if len(c.onCore) == 0 {
		return fmt.Errorf("%w: stealattr: no pool cores", ErrNoData)
	}
	var err error
	if StealAttrBackend != "ftrace" {
		c.o.measure(func() { err = c.startBpftrace(ctx) })
		if err == nil {
			c.o.started(c.bt.helperCPU())
			return nil
		}
		if StealAttrBackend == "bpftrace" {
			return fmt.Errorf("%w: stealattr: %v", ErrNoData, err)
		}
	}
	c.o.measure(func() {
		if _, serr := os.Stat(filepath.Join(TracingRoot, "instances")); serr != nil {
			if err = ensureTracefs(); err != nil {
				return
			}
		}
		// Every core: a marker goes to the core its writer runs on, and
		// parse drops the switches of cores outside the pools.
		c.tp, err = openTracePipe("stealattr-", "sched/sched_switch")
	})
	if err != nil {
		return fmt.Errorf("%w: stealattr: %v", ErrNoData, err)
	}
	c.o.goroutine(c.tp.reader(c.parse))
	stopOnCancel(ctx, c.tp.done, c.tp.halt)
	c.mark(stealStartMark)
	c.o.started(0)
	return nil
}

// mark writes a marker into the instance; its line gives the trace time.
func (c *stealAttrCollector) mark(s string) {
	os.WriteFile(filepath.Join(c.tp.dir, "trace_marker"), []byte(s), 0)
}

// parse reads a trace_pipe line such as
//
//	yes-1234 [001] d..2. 123.456789: sched_switch: prev_comm=yes prev_pid=1234 prev_prio=120 prev_state=R ==> next_comm=swapper/1 next_pid=0 next_prio=120
//	sh-99 [000] ..... 123.5: tracing_mark_write: polytropon-stealattr-stop
func (c *stealAttrCollector) parse(line string) {
	lb, rb := strings.IndexByte(line, '['), strings.IndexByte(line, ']')
	if lb < 0 || rb < lb {
		return
	}
	cpu, err := strconv.Atoi(line[lb+1 : rb])
	if err != nil {
		return
	}
	rest := line[rb+1:]
	colon := strings.Index(rest, ": ")
	if colon < 0 {
		return
	}
	head := strings.Fields(rest[:colon])
	if len(head) == 0 {
		return
	}
	ts, err := strconv.ParseFloat(head[len(head)-1], 64)
	if err != nil {
		return
	}
	body := rest[colon+2:]
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = max(c.last, ts)
	switch {
	case strings.Contains(body, stealStartMark):
		c.start = ts
	case strings.Contains(body, stealStopMark):
		c.end = ts
	case strings.HasPrefix(body, "sched_switch: "):
		prev := fieldInt(body, " prev_pid=")
		next := fieldInt(body, " next_pid=")
		if prev < 0 || next < 0 || c.start == 0 || c.end != 0 {
			return
		}
		since := c.start
		if r, ok := c.running[cpu]; ok {
			since = r.since
		}
		c.charge(cpu, prev, traceComm(body), ts-since)
		c.running[cpu] = runningTask{tid: next, since: ts}
	}
}

func fieldInt(s, key string) int {
	i := strings.Index(s, key)
	if i < 0 {
		return -1
	}
	v := s[i+len(key):]
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return -1
	}
	return n
}

// traceComm is the prev_comm of a sched_switch line: the name the task
// had when it ran (a task that exec'd since has another).
func traceComm(body string) string {
	i, j := strings.Index(body, "prev_comm="), strings.Index(body, " prev_pid=")
	if i < 0 || j < i {
		return ""
	}
	return body[i+len("prev_comm=") : j]
}

// charge adds d seconds of tid (named comm) on cpu to the cpu's pool,
// unless tid is the idle task or one of the pool's own; called with mu
// held.
func (c *stealAttrCollector) charge(cpu, tid int, comm string, d float64) {
	pool, ok := c.onCore[cpu]
	if !ok || tid == 0 || d <= 0 {
		return
	}
	if c.poolIndex(tid) == pool {
		return
	}
	k := c.key(tid)
	if k.class == "host" {
		// Gone before it was read, but its cgroup was seen (bpftrace).
		if i := c.poolIndex(tid); i >= 0 {
			k.class = "pool:" + c.target.Pools[i].Name
		}
	}
	if comm != "" {
		k.name = comm
		// A task gone before it was read: a kernel thread by its name
		// (kworkers come and go).
		if k.cgroup == "unknown" && kernelClass(comm) != "kernel" {
			k.cgroup = "kernel"
		}
		if k.cgroup == "kernel" {
			k.class = kernelClass(comm)
		}
	}
	c.charged[pool][k] += d
}

func (c *stealAttrCollector) poolIndex(tid int) int {
	if i, ok := c.poolOf[tid]; ok {
		return i
	}
	if e, ok := c.early[tid]; ok && !taskAlive(tid) {
		c.poolOf[tid] = e.pool
		return e.pool
	}
	i := -1
	name := poolOfPid(c.target, tid)
	for j, p := range c.target.Pools {
		if name != "" && p.Name == name {
			i = j
		}
	}
	c.poolOf[tid] = i
	return i
}

// key classifies a task outside the pool by /proc (read once per task).
func (c *stealAttrCollector) key(tid int) taskKey {
	if k, ok := c.tasks[tid]; ok {
		return k
	}
	if e, ok := c.early[tid]; ok && !taskAlive(tid) {
		c.tasks[tid] = e.key
		return e.key
	}
	k := taskKey{class: "host", cgroup: "unknown", name: "unknown"}
	base := procPath(strconv.Itoa(tid))
	if b, err := os.ReadFile(filepath.Join(base, "comm")); err == nil {
		k.name = strings.TrimSpace(string(b))
	}
	f, err := statFields(filepath.Join(base, "stat"))
	const pfKthread = 0x00200000
	switch {
	case err == nil && statField(f, 9)&pfKthread != 0:
		k.class, k.cgroup = kernelClass(k.name), "kernel"
	default:
		if b, err := os.ReadFile(filepath.Join(base, "cgroup")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if rel, ok := strings.CutPrefix(l, "0::"); ok {
					k.cgroup = rel
				}
			}
		}
		if i := c.poolIndex(tid); i >= 0 {
			k.class = "pool:" + c.target.Pools[i].Name
		} else if tgid, ppid := procTgidPPid(base); tgid == c.self || ppid == c.self {
			k.class = "harness"
		}
	}
	c.tasks[tid] = k
	return k
}

func taskAlive(tid int) bool {
	_, err := os.Stat(procPath(strconv.Itoa(tid)))
	return err == nil
}

// kernelClass names the class of a kernel thread by its name.
func kernelClass(comm string) string {
	switch {
	case strings.HasPrefix(comm, "kworker") && strings.Contains(comm, "flush"):
		return "flusher"
	case strings.HasPrefix(comm, "kworker"):
		return "kworker"
	case strings.HasPrefix(comm, "loop"):
		return "loop"
	case strings.HasPrefix(comm, "jbd2"):
		return "jbd2"
	case strings.HasPrefix(comm, "kswapd"):
		return "kswapd"
	case strings.HasPrefix(comm, "ksoftirqd"):
		return "softirq"
	case strings.HasPrefix(comm, "rcu"):
		return "rcu"
	}
	return "kernel"
}

// procTgidPPid reads the Tgid and PPid lines of a task's status.
func procTgidPPid(base string) (tgid, ppid int) {
	st, err := readKV(filepath.Join(base, "status"))
	if err != nil {
		return -1, -1
	}
	return int(st["Tgid:"]), int(st["PPid:"])
}

func (c *stealAttrCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.o == nil || c.tp == nil && c.bt == nil {
		return nil, fmt.Errorf("metrics: stealattr: Stop without Start")
	}
	if c.bt != nil {
		c.o.measure(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if err = c.stopBpftrace(); err == nil {
				ms = c.metrics()
			}
		})
		if err != nil {
			return nil, err
		}
		return append(ms, c.o.metrics()...), nil
	}
	c.o.measure(func() {
		c.mark(stealStopMark)
		// Let the reader reach the stop marker, then stop it.
		deadline := time.Now().Add(stealAttrDrain)
		for time.Now().Before(deadline) {
			c.mu.Lock()
			seen := c.end != 0
			c.mu.Unlock()
			if seen {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.tp.halt()
		<-c.tp.done
		dropped := c.tp.dropped()
		c.tp.cleanup()
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.end == 0 {
			// The reader fell behind (a loaded host): what it read
			// stands, up to its last event, and the note says so.
			err = fmt.Errorf("metrics: stealattr: the trace reader did not reach the stop marker within %v; attribution ends at the last event read", stealAttrDrain)
			c.end = c.last
		}
		if dropped > 0 {
			// A lost switch charges its interval to the task before it.
			err = errors.Join(err, fmt.Errorf("metrics: stealattr: the trace reader fell behind and the kernel dropped %d switches; some intervals are charged to the wrong task", dropped))
		}
		for cpu, r := range c.running {
			c.charge(cpu, r.tid, "", c.end-r.since)
		}
		ms = c.metrics()
	})
	return append(ms, c.o.metrics()...), err
}

// metrics turns the charged seconds into metrics; called with mu held.
func (c *stealAttrCollector) metrics() []Metric {
	var ms []Metric
	for i, p := range c.target.Pools {
		byClass, byCgroup, byTask := map[string]float64{}, map[string]float64{}, map[string]float64{}
		var total float64
		for k, s := range c.charged[i] {
			byClass[k.class] += s
			byCgroup[k.cgroup] += s
			byTask[k.name] += s
			total += s
		}
		add := func(name, label string, m map[string]float64, top int) {
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Slice(keys, func(a, b int) bool { return m[keys[a]] > m[keys[b]] || m[keys[a]] == m[keys[b]] && keys[a] < keys[b] })
			if top > 0 && len(keys) > top {
				keys = keys[:top]
			}
			for _, k := range keys {
				ms = append(ms, Metric{Pool: p.Name, Name: name, Unit: "s", Value: m[k], Labels: map[string]string{label: k}})
			}
		}
		add("steal_attr_seconds", "class", byClass, 0)
		add("steal_attr_cgroup_seconds", "cgroup", byCgroup, 0)
		add("steal_attr_task_seconds", "task", byTask, 10)
		ms = append(ms, Metric{Pool: p.Name, Name: "steal_attr_total_seconds", Unit: "s", Value: total})
	}
	return ms
}

// Encloses: the attribution splits steal's cpu_steal_seconds, so its
// window is steal's.
func (c *stealAttrCollector) Encloses() string { return "steal" }
