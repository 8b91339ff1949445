package workloads

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"polytropon/internal/hostcheck"
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
// --histogram=on run. An op is a sysbench event (one prime search up to
// MaxPrime).
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
	out, err := runTool(ctx, env, "sysbench-cpu", toolCommand(ctx, env, w.binary, w.MakeCmd()...))
	if err != nil {
		return nil, err
	}
	return w.Report(out)
}

// Report parses sysbench's output with parseSysbench; the histogram
// becomes Latency["event"] and ["all"].
func (w *SysbenchCPU) Report(out []byte) (*Result, error) {
	return parseSysbench(w.Name(), out)
}
