package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"polytropon/results"
)

// userlock: user-level lock waits of the filesystem services (Go
// processes): the change of the Go runtime's /sync/mutex/wait/total:seconds
// over the window, obtained through the runtime-metrics protocol (see
// ServeRuntimeMetrics). Metrics: service_lock_wait_seconds per service
// (in the pool the service runs in; label service = its index among the
// pool's services, in Target.ServicePIDs order: an identity that is the same
// in every repetition, unlike the pid) and user_lock_wait_seconds, their sum
// per pool.

func init() {
	Register("userlock", func() Collector { return &userlockCollector{} })
	Declare("userlock",
		results.MetricDecl{Name: "service_lock_wait_seconds", Unit: "s", Agg: results.AggPoolOnly, Labels: []string{"service"}},
		results.MetricDecl{Name: "user_lock_wait_seconds", Unit: "s", Agg: results.AggSum},
	)
}

// snapshotTimeout bounds the wait for a service's snapshot.
var snapshotTimeout = 2 * time.Second

type userlockCollector struct {
	o      *overhead
	target Target
	svcs   []userlockService
}

type userlockService struct {
	pid   int
	file  string // as seen from here (/proc/<pid>/root/...)
	pool  string
	index int // among the services of the same pool
	start float64
}

func (u *userlockCollector) Name() string { return "userlock" }

// catchesSIGUSR1 reports whether pid has a handler for SIGUSR1 (SigCgt):
// sending it to a process without one would kill it.
func catchesSIGUSR1(pid int) bool {
	b, err := os.ReadFile(procPath(strconv.Itoa(pid), "status"))
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && mask&(1<<(uint(syscall.SIGUSR1)-1)) != 0
		}
	}
	return false
}

// snapshotPath returns the service's snapshot file seen from here.
func snapshotPath(pid int) (string, error) {
	b, err := os.ReadFile(procPath(strconv.Itoa(pid), "environ"))
	if err != nil {
		return "", err
	}
	for _, kv := range bytes.Split(b, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), EnvRuntimeMetricsFile+"="); ok && filepath.IsAbs(v) {
			return procPath(strconv.Itoa(pid), "root", v), nil
		}
	}
	return "", fmt.Errorf("pid %d: no %s in its environment", pid, EnvRuntimeMetricsFile)
}

// requestSnapshot signals the service and waits for a fresh snapshot.
func requestSnapshot(ctx context.Context, pid int, file string) (*RuntimeSnapshot, error) {
	if !catchesSIGUSR1(pid) {
		return nil, fmt.Errorf("pid %d does not catch SIGUSR1 (no ServeRuntimeMetrics)", pid)
	}
	asked := time.Now().UnixNano()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	deadline := time.Now().Add(snapshotTimeout)
	for delay := 200 * time.Microsecond; ; delay = min(delay*2, 20*time.Millisecond) {
		if b, err := os.ReadFile(file); err == nil {
			var s RuntimeSnapshot
			if json.Unmarshal(b, &s) == nil && s.TimeUnixNano >= asked {
				return &s, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pid %d: no snapshot in %s within %v", pid, file, snapshotTimeout)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// poolOfPid finds the pool whose cgroup-v2 directory holds pid.
func poolOfPid(t Target, pid int) string {
	b, err := os.ReadFile(procPath(strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rel, ok := strings.CutPrefix(l, "0::"); ok && rel != "/" {
			for _, p := range t.Pools {
				if p.CgroupV2 != "" && strings.HasSuffix(p.CgroupV2, rel) {
					return p.Name
				}
			}
		}
	}
	return ""
}

func (u *userlockCollector) Start(ctx context.Context, t Target) (err error) {
	u.o = newOverhead("userlock")
	u.target = t
	if len(t.ServicePIDs) == 0 {
		return fmt.Errorf("%w: userlock: this system has no filesystem-service process to read user-level lock waits from", ErrNoData)
	}
	var errs []error
	perPool := map[string]int{}
	u.o.measure(func() {
		for _, pid := range t.ServicePIDs {
			file, err := snapshotPath(pid)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s, err := requestSnapshot(ctx, pid, file)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			pool := poolOfPid(t, pid)
			u.svcs = append(u.svcs, userlockService{pid: pid, file: file, pool: pool, index: perPool[pool], start: s.Metrics[MutexWaitMetric]})
			perPool[pool]++
		}
	})
	if len(u.svcs) == 0 {
		return fmt.Errorf("%w: userlock: no service answers the runtime-metrics protocol: %v", ErrNoData, errors.Join(errs...))
	}
	u.o.started(0)
	return nil
}

func (u *userlockCollector) Stop(ctx context.Context) (ms []Metric, err error) {
	if u.o == nil {
		return nil, fmt.Errorf("metrics: userlock: Stop without Start")
	}
	var errs []error
	u.o.measure(func() {
		perPool := map[string]float64{}
		for _, s := range u.svcs {
			snap, err := requestSnapshot(ctx, s.pid, s.file)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			d := max(snap.Metrics[MutexWaitMetric]-s.start, 0)
			perPool[s.pool] += d
			ms = append(ms, Metric{Pool: s.pool, Name: "service_lock_wait_seconds", Unit: "s", Value: d,
				Labels: map[string]string{"service": strconv.Itoa(s.index)}})
		}
		for pool, v := range perPool {
			ms = append(ms, Metric{Pool: pool, Name: "user_lock_wait_seconds", Unit: "s", Value: v})
		}
	})
	ms = append(ms, u.o.metrics()...)
	if len(errs) > 0 {
		return ms, fmt.Errorf("metrics: userlock: %w", errors.Join(errs...))
	}
	return ms, nil
}
