package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"sync"
	"syscall"
	"time"
)

// The runtime-metrics protocol between a Go filesystem service and the
// userlock collector:
//
//  1. The runner starts the service with EnvRuntimeMetricsFile set to an
//     absolute path (in the service's mount namespace).
//  2. The service calls ServeRuntimeMetrics("") early in main.
//  3. On SIGUSR1 the service writes a RuntimeSnapshot of its
//     runtime/metrics (every scalar metric, including
//     /sync/mutex/wait/total:seconds) as JSON to that path, atomically
//     (temporary file + rename).
//  4. The collector checks that the process catches SIGUSR1 (SigCgt in
//     /proc/<pid>/status) and has the variable in /proc/<pid>/environ, sends
//     SIGUSR1 and reads /proc/<pid>/root/<path> until a snapshot newer than
//     its request appears (at most 2 s).

// EnvRuntimeMetricsFile names the snapshot file of a service.
const EnvRuntimeMetricsFile = "POLYTROPON_METRICS_FILE"

// RuntimeSnapshot is one snapshot of a process's Go runtime metrics.
type RuntimeSnapshot struct {
	Pid          int                `json:"pid"`
	TimeUnixNano int64              `json:"time_unix_nano"`
	Metrics      map[string]float64 `json:"metrics"`
}

// MutexWaitMetric is the Go runtime's cumulative time goroutines spent
// blocked on sync.Mutex, sync.RWMutex and runtime-internal locks.
const MutexWaitMetric = "/sync/mutex/wait/total:seconds"

// ServeRuntimeMetrics makes this process write a RuntimeSnapshot to path
// on every SIGUSR1. An empty path means $POLYTROPON_METRICS_FILE; when
// that is unset too, it does nothing. stop ends the service.
func ServeRuntimeMetrics(path string) (stop func(), err error) {
	if path == "" {
		path = os.Getenv(EnvRuntimeMetricsFile)
	}
	if path == "" {
		return func() {}, nil
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("metrics: %s=%q: want an absolute path", EnvRuntimeMetricsFile, path)
	}
	if err := WriteRuntimeSnapshot(path); err != nil { // fail early on a bad path
		return nil, err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	quit := make(chan struct{})
	go func() {
		for {
			select {
			case <-sig:
				WriteRuntimeSnapshot(path)
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			signal.Stop(sig)
			close(quit)
		})
	}, nil
}

// WriteRuntimeSnapshot writes this process's runtime metrics to path
// atomically.
func WriteRuntimeSnapshot(path string) error {
	descs := metrics.All()
	samples := make([]metrics.Sample, len(descs))
	for i, d := range descs {
		samples[i].Name = d.Name
	}
	metrics.Read(samples)
	snap := RuntimeSnapshot{Pid: os.Getpid(), TimeUnixNano: time.Now().UnixNano(), Metrics: map[string]float64{}}
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			snap.Metrics[s.Name] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			snap.Metrics[s.Name] = s.Value.Float64()
		}
	}
	b, err := json.Marshal(snap)
	if err != nil {
		return err
	}
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("metrics: runtime snapshot: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("metrics: runtime snapshot: %w", err)
	}
	return nil
}
