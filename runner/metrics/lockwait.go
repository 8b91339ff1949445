package metrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"polytropon/results"

	"golang.org/x/sys/unix"

	"polytropon/internal/hostcheck"
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

// The collector is here; the backends are in lockwait_bpftrace.go and
// lockwait_ftrace.go, what they count in lockwait_totals.go, and the
// symbols of static locks come from lockwait_kallsyms.go.

func init() {
	Register("lockwait", func() Collector { return &lockwaitCollector{} })
	Declare("lockwait",
		results.MetricDecl{Name: "lock_wait_seconds", Unit: "s", Scope: results.ScopePoolHost, Agg: results.AggSum, Tags: []string{"backend"}},
		results.MetricDecl{Name: "lock_waits", Unit: "count", Scope: results.ScopePoolHost, Agg: results.AggSum, Tags: []string{"backend"}},
		results.MetricDecl{Name: "lock_wait_type_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"type"}, Tags: []string{"backend"}},
		results.MetricDecl{Name: "lock_wait_top_seconds", Unit: "s", Agg: results.AggSum, Labels: []string{"type", "symbol"}, Tags: []string{"backend"}},
		// Derived by the runner from the pools' operations (LockWaitPerOp):
		// averages, so the pools join by their mean.
		results.MetricDecl{Name: "lock_wait_per_op_us", Unit: "us", Agg: results.AggMean},
		results.MetricDecl{Name: "lock_waits_per_op", Unit: "count", Agg: results.AggMean},
	)
}

var (
	// LockwaitBackend forces a backend: "bpftrace", "ftrace" or "" (try
	// bpftrace, then ftrace).
	LockwaitBackend = ""
	// LockwaitTop is how many top locks per pool are reported.
	LockwaitTop = 5
)

type lockwaitCollector struct {
	o       *overhead
	target  Target
	backend lockBackend
}

// lockBackend is one way to observe the tracepoints.
type lockBackend interface {
	name() string
	// helperCPU is the CPU time the backend's helper process has used so
	// far (0 without one): its start-up cost.
	helperCPU() time.Duration
	stop() (lockTotals, error)
}

// lockBackends are the backends in the order Start tries them.
var lockBackends = []struct {
	name  string
	start func(context.Context, Target, *overhead) (lockBackend, error)
}{
	{"bpftrace", startBpftrace},
	{"ftrace", startFtrace},
}

func (c *lockwaitCollector) Name() string { return "lockwait" }

func (c *lockwaitCollector) Start(ctx context.Context, t Target) error {
	c.o = newOverhead("lockwait")
	c.target = t
	var errs []error
	if err := ensureTracefs(); err != nil {
		return fmt.Errorf("%w: lockwait: %v", ErrNoData, err)
	}
	for _, bk := range lockBackends {
		if LockwaitBackend != "" && LockwaitBackend != bk.name {
			continue
		}
		var b lockBackend
		var err error
		c.o.measure(func() { b, err = bk.start(ctx, t, c.o) })
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.backend = b
		c.o.started(b.helperCPU())
		return nil
	}
	return fmt.Errorf("%w: lockwait: %v", ErrNoData, errors.Join(errs...))
}

func (c *lockwaitCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if c.backend == nil {
		return nil, fmt.Errorf("metrics: lockwait: Stop without a successful Start")
	}
	c.o.measure(func() {
		var tot lockTotals
		if tot, err = c.backend.stop(); err == nil {
			ms = c.metrics(tot)
		}
	})
	if err != nil {
		return nil, err
	}
	return append(ms, c.o.metrics()...), nil
}

// metrics are the window's waits, host-wide and per pool, and per pool by
// lock type and for its top locks.
func (c *lockwaitCollector) metrics(tot lockTotals) []Metric {
	backend := c.backend.name()
	labels := map[string]string{"backend": backend}
	var ms []Metric
	for _, p := range append([]string{""}, poolNames(c.target)...) {
		ms = append(ms,
			Metric{Pool: p, Name: "lock_wait_seconds", Unit: "s", Value: float64(tot.waitNs[p]) / 1e9, Labels: labels},
			Metric{Pool: p, Name: "lock_waits", Unit: "count", Value: float64(tot.count[p]), Labels: labels},
		)
		if p == "" || len(tot.top[p]) == 0 {
			continue
		}
		ms = append(ms, typeMetrics(p, tot.top[p], backend)...)
		ms = append(ms, topLockMetrics(p, tot.top[p], backend)...)
	}
	return ms
}

// typeMetrics are pool's waits by lock type.
func typeMetrics(pool string, locks map[lockKey]uint64, backend string) []Metric {
	byType := map[string]uint64{}
	for k, ns := range locks {
		byType[lockType(k.flags)] += ns
	}
	var ms []Metric
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		ms = append(ms, Metric{Pool: pool, Name: "lock_wait_type_seconds", Unit: "s", Value: float64(byType[typ]) / 1e9,
			Labels: map[string]string{"backend": backend, "type": typ}})
	}
	return ms
}

// topLockMetrics are the waits on those of pool's LockwaitTop most
// waited-for locks that have a symbol.
func topLockMetrics(pool string, locks map[lockKey]uint64, backend string) []Metric {
	var ms []Metric
	for _, tl := range topLocks(locks, LockwaitTop) {
		if tl.addr < kernelImageBase {
			continue // a heap lock: no identity that outlives the repetition
		}
		sym := cachedKallsyms().resolve(tl.addr) // slow the first time (~0.3 s): only for static locks
		if sym == "" {
			continue
		}
		labels := map[string]string{"backend": backend, "type": lockType(tl.flags), "symbol": sym}
		ms = append(ms, Metric{Pool: pool, Name: "lock_wait_top_seconds", Unit: "s", Value: float64(tl.ns) / 1e9, Labels: labels})
	}
	return ms
}

func poolNames(t Target) []string {
	var n []string
	for _, p := range t.Pools {
		n = append(n, p.Name)
	}
	return n
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

// stopOnCancel runs stop if ctx ends before done is closed, so that a
// backend does not outlive the context it was started with.
func stopOnCancel(ctx context.Context, done <-chan struct{}, stop func()) {
	go func() {
		select {
		case <-ctx.Done():
			stop()
		case <-done:
		}
	}()
}

// Requirements: the lock:contention_* tracepoints in tracefs (mounted by
// Start when missing) and bpftrace, without which the collector falls
// back to a raw ftrace instance.
func (c *lockwaitCollector) Requirements() []hostcheck.Item {
	const who = "collector lockwait"
	var items []hostcheck.Item
	event := filepath.Join(TracingRoot, "events", "lock", "contention_begin")
	switch _, err := os.Stat(event); {
	case err == nil:
		items = append(items, hostcheck.Found("tracefs", TracingRoot+" with lock:contention_* tracepoints", who))
	case hostcheck.KernelFilesystem("tracefs"):
		items = append(items, hostcheck.Found("tracefs", "not mounted at "+TracingRoot+"; the collector mounts it (mount -t tracefs nodev "+TracingRoot+")", who))
	default:
		items = append(items, hostcheck.Missing("tracefs", "the kernel has no tracefs", "a kernel with CONFIG_FTRACE and lock:contention_* tracepoints (Linux >= 5.19)", who))
	}
	b := hostcheck.Bpftrace.Item(who)
	if !b.OK {
		b.Detail += "; falls back to a raw ftrace instance (pairs events in user space)"
	}
	return append(items, b)
}

// SlowStart: the preferred backend, bpftrace, compiles and attaches in
// Start.
func (c *lockwaitCollector) SlowStart() bool { return LockwaitBackend != "ftrace" }
