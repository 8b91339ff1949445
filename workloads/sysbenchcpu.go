package workloads

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/results"
)

func init() {
	Register("sysbench-cpu", func() Workload {
		// The papers' SSB (fig 6c): 2 threads computing primes; they
		// report its p99 latency.
		return &SysbenchCPU{Threads: 2, MaxPrime: 10000, Percentile: 99, Duration: 60 * time.Second}
	})
}

// SysbenchCPU runs sysbench's cpu test (Debian package sysbench): sysbench
// cpu --threads=Threads --cpu-max-prime=MaxPrime --time=N --percentile=P
// --report-interval=1 --histogram=on run. An op is a sysbench event (one
// prime search up to MaxPrime).
//
// As a noise workload it is stopped when the main workload ends; sysbench
// dies on a signal without its final report, so a stopped run reports
// what its per-second interval lines say (intervalReport). To get the
// exact report and histogram beside a main workload (Fig 6c's p99), give
// it the main workload's duration: a stop within sysbenchStopGrace of its
// own end waits for that end (nearEndStop), so it ends by itself.
type SysbenchCPU struct {
	Threads    int           `toml:"threads"`
	MaxPrime   int           `toml:"cpu_max_prime"`
	Percentile int           `toml:"percentile"`
	Duration   time.Duration `toml:"duration"`

	binary string
}

func (w *SysbenchCPU) Name() string { return "sysbench-cpu" }

// Tools is the external program the workload runs.
func (w *SysbenchCPU) Tools() []hostcheck.Program { return []hostcheck.Program{hostcheck.Sysbench} }

func (w *SysbenchCPU) Validate() error {
	errs := []error{
		checkRange(w.Name(), "threads", int64(w.Threads), 1, 4096),
		checkRange(w.Name(), "cpu_max_prime", int64(w.MaxPrime), 3, 1<<31-1),
		checkRange(w.Name(), "percentile", int64(w.Percentile), 1, 99),
		checkDuration(w.Name(), "duration", w.Duration),
	}
	if w.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("workloads: sysbench-cpu: duration must be whole seconds, got %v", w.Duration))
	}
	return errors.Join(errs...)
}

// MakeCmd returns sysbench's arguments.
func (w *SysbenchCPU) MakeCmd() []string {
	return []string{
		"cpu",
		"--threads=" + strconv.Itoa(w.Threads),
		"--cpu-max-prime=" + strconv.Itoa(w.MaxPrime),
		"--time=" + strconv.Itoa(int(w.Duration/time.Second)),
		"--percentile=" + strconv.Itoa(w.Percentile),
		"--report-interval=1",
		"--histogram=on",
		"run",
	}
}

func (w *SysbenchCPU) Parameters() map[string]string {
	return map[string]string{"threads": strconv.Itoa(w.Threads), "cpu_max_prime": strconv.Itoa(w.MaxPrime)}
}

func (w *SysbenchCPU) Prepare(ctx context.Context, env *Env) error {
	bin, err := findTool(hostcheck.Sysbench)
	w.binary = bin
	return err
}

func (w *SysbenchCPU) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.binary == "" {
		return nil, fmt.Errorf("workloads: sysbench-cpu: Run before Prepare")
	}
	// Not toolCommand's context: ctx's end is a stop request, and what
	// sysbench printed until then is still the result.
	cmd := toolCommand(context.WithoutCancel(ctx), env, w.binary, w.MakeCmd()...)
	stop, cancel := nearEndStop(ctx, w.Duration, sysbenchStopGrace)
	defer cancel()
	out, stopped, err := runToolStoppable(stop, env, "sysbench-cpu", cmd, sysbenchStopGrace)
	if stopped {
		if res, rerr := w.Report(out); rerr == nil {
			return res, nil // it ended by itself as the stop came
		}
		return w.intervalReport(out)
	}
	if err != nil {
		return nil, err
	}
	return w.Report(out)
}

// sysbenchStopGrace bounds the wait for sysbench after the stop signal (it
// exits at once), and how close to its own end a stop waits for that end.
var sysbenchStopGrace = 3 * time.Second

// nearEndStop returns a context that ends when ctx does, except that a
// stop that comes within grace of the end of a run of duration started
// now waits for that end (plus a second for the report): a noise
// workload given the main window's duration then ends by itself, with
// its full report, even when the main one finishes a moment earlier.
func nearEndStop(ctx context.Context, duration, grace time.Duration) (context.Context, context.CancelFunc) {
	end := time.Now().Add(duration)
	stop, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		select {
		case <-ctx.Done():
		case <-stop.Done():
			return
		}
		if left := time.Until(end); left > 0 && left <= grace {
			select {
			case <-time.After(left + time.Second):
			case <-stop.Done():
			}
		}
		cancel()
	}()
	return stop, cancel
}

var sysbenchInterval = regexp.MustCompile(`^\[ *([0-9]+)s \] thds: [0-9]+ eps: ([0-9.]+) lat \(ms,([0-9.]+)%\): ([0-9.]+)`)

// intervalReport is the result of a run stopped before sysbench's final
// report, from its "[ Ns ] thds: T eps: E lat (ms,P%): L" lines: Ops is the
// sum of the events of the whole seconds, Elapsed their count; counters
// events_per_sec, latency_interval_p<P>_max_ms and _mean_ms (the highest
// and the mean of the per-second percentiles: the percentile over the
// whole run is not in the output), and stopped_early = 1. No histogram.
func (w *SysbenchCPU) intervalReport(out []byte) (*Result, error) {
	res := &Result{Latency: map[string]*results.Histogram{}, Counters: map[string]float64{}}
	var events, latMax, latSum float64
	var pct string
	n := 0
	for _, line := range strings.Split(string(out), "\n") {
		m := sysbenchInterval.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		eps, _ := strconv.ParseFloat(m[2], 64)
		lat, _ := strconv.ParseFloat(m[4], 64)
		pct = strings.TrimSuffix(strings.TrimRight(m[3], "0"), ".")
		events += eps
		latMax = max(latMax, lat)
		latSum += lat
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("workloads: sysbench-cpu: stopped before its first interval report: %s", tail(out, 400))
	}
	res.Ops = int64(events + 0.5)
	res.Elapsed = time.Duration(n) * time.Second
	res.Counters["events_per_sec"] = events / float64(n)
	res.Counters["latency_interval_p"+pct+"_max_ms"] = latMax
	res.Counters["latency_interval_p"+pct+"_mean_ms"] = latSum / float64(n)
	res.Counters["stopped_early"] = 1
	return res, nil
}

// Report parses sysbench's output with parseSysbench; the histogram
// becomes Latency["event"] and ["all"].
func (w *SysbenchCPU) Report(out []byte) (*Result, error) {
	return parseSysbench(w.Name(), out)
}
