package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"io"

	"polytropon/internal/units"
	"polytropon/ipc/queue"
	"polytropon/results"
)

// QueueBenchConfig is everything polytropon queuebench does: the raw
// ping-pong baseline, cross-process round trips of every Shared design,
// and the queue bake-off.
type QueueBenchConfig struct {
	Queue QueueConfig
	// RTT bounds the ping-pong and round-trip points; its Designs and
	// Waits default to the Shared ones of Queue.
	RTT RTTConfig
	// SkipRTT leaves out ping-pong and round trips.
	SkipRTT bool
	// Subject and Reference name the designs the goal ratios compare
	// (defaults rcqb and channel).
	Subject, Reference string
	// OutDir, when set, receives the run directory
	// queuebench-<UTC time>/ (see results.Create); "" writes nothing.
	OutDir string
}

// rtt is the round-trip configuration of the run: designs and waits
// default to the Shared designs and the waits of the queue bake-off.
func (cfg *QueueBenchConfig) rtt() RTTConfig {
	rtt := cfg.RTT
	if len(rtt.Designs) == 0 {
		for _, n := range cfg.Queue.Designs {
			if d, err := queue.Lookup(n); err == nil && d.Shared {
				rtt.Designs = append(rtt.Designs, n)
			}
		}
		rtt.BaselineOnly = len(rtt.Designs) == 0
	}
	if len(rtt.Waits) == 0 {
		for _, wt := range cfg.Queue.Waits {
			rtt.Waits = append(rtt.Waits, wt.String())
		}
	}
	return rtt
}

// settings is config.toml of the run: the configuration, defaults
// resolved.
func (cfg *QueueBenchConfig) settings(rtt RTTConfig) map[string]any {
	q := cfg.Queue
	var waits []string
	for _, w := range q.Waits {
		waits = append(waits, w.String())
	}
	s := map[string]any{"subject": cfg.Subject, "reference": cfg.Reference, "queue": map[string]any{
		"designs": q.Designs, "waits": waits, "producers": q.Producers, "consumers": q.Consumers, "cross": q.Cross,
		"work": q.Work, "duration": q.Duration, "max_items": q.MaxItems, "capacity": q.Capacity, "spin_budget": q.SpinBudget,
		"pin": q.Pin, "no_lock": q.NoLock, "rounds": q.Rounds, "op_timeout": q.OpTimeout,
	}}
	if !cfg.SkipRTT {
		s["rtt"] = map[string]any{
			"peers": rtt.Peers, "duration": rtt.Duration, "max_trips": rtt.MaxTrips, "warmup": rtt.Warmup, "pin": rtt.Pin,
			"no_lock": rtt.NoLock, "rounds": max(rtt.Rounds, 1), "baseline_only": rtt.BaselineOnly, "designs": rtt.Designs,
			"waits": rtt.Waits, "capacity": rtt.Capacity, "spin_budget": rtt.SpinBudget,
		}
	}
	return s
}

// QueueBench runs cfg, prints progress, the table and the goal ratios to w,
// and, with OutDir, stores the run (records as the points finish, then
// summary.csv, bench.txt and the figures). Point failures are in the
// table, not err.
func QueueBench(ctx context.Context, cfg QueueBenchConfig, w io.Writer) (*results.Table, error) {
	if cfg.Subject == "" {
		cfg.Subject = "rcqb"
	}
	if cfg.Reference == "" {
		cfg.Reference = "channel"
	}
	if err := cfg.Queue.defaults(); err != nil {
		return nil, err
	}
	rtt := cfg.rtt()
	var plots []results.PlotSpec
	if !cfg.SkipRTT {
		if err := rtt.defaults(); err != nil {
			return nil, err
		}
		plots = RTTPlots(rtt.Peers)
	}
	var waits []string
	for _, wt := range cfg.Queue.Waits {
		waits = append(waits, wt.String())
	}
	plots = append(plots, QueuePlots(waits)...)
	out, err := newOutput(cfg.OutDir, "queuebench", cfg.settings(rtt), hostInfo(ctx, WorkloadRoundTrip, WorkloadQueue))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	if !cfg.SkipRTT {
		fmt.Fprintf(w, "# ping-pong baseline and round trips over request/response queues (%d rounds, alternating)\n", max(rtt.Rounds, 1))
		pts, err := RunRTTRounds(ctx, rtt)
		for _, p := range pts {
			err = errors.Join(err, out.Add(p.Records()...))
		}
		if err != nil {
			return nil, err
		}
	}
	cpus := len(mustCPUs())
	fmt.Fprintf(w, "# queue bake-off: %d designs x %d waits x %d thread pairs x %v (GOMAXPROCS raised to the thread count; %d CPUs)\n",
		len(cfg.Queue.Designs), len(cfg.Queue.Waits), len(cfg.Queue.pairs()), cfg.Queue.Duration, cpus)
	if most := maxThreads(cfg.Queue.pairs()); most > cpus {
		err = errors.Join(err, out.Note(fmt.Sprintf("queue points with more than %d threads (up to %d) oversubscribe the %d CPUs", cpus, most, cpus)))
	}
	clockNoted := false
	_, runErr := RunQueue(ctx, cfg.Queue, func(p QueuePoint) {
		if !clockNoted {
			clockNoted = true
			err = errors.Join(err, out.Note(fmt.Sprintf("enqueue latencies exclude the calibrated cost of one clock read, %s ns", results.FormatNumber(p.ClockNs))))
		}
		err = errors.Join(err, out.Add(p.Records()...))
		if p.Err != nil {
			fmt.Fprintf(w, "  %s %s: ERROR %v\n", WorkloadQueue, p.Name(), p.Err)
			return
		}
		fmt.Fprintf(w, "  %s %s: %s items/s, enq %s ns\n", WorkloadQueue, p.Name(), results.FormatNumber(p.Throughput()), results.FormatNumber(p.EnqNs))
	})
	if err = errors.Join(runErr, err); err != nil {
		return nil, err
	}
	return out.report(w, plots, func(t *results.Table) string { return QueueGoals(t, cfg.Subject, cfg.Reference) })
}

func maxThreads(pairs [][2]int) int {
	most := 0
	for _, pc := range pairs {
		most = max(most, pc[0]+pc[1])
	}
	return most
}

// CopyBench runs the copy bake-off, prints the table and the goal ratios,
// and, with outDir, stores the run directory copybench-<UTC time>/ there.
func CopyBench(ctx context.Context, cfg CopyConfig, outDir string, w io.Writer) (*results.Table, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var sizes []string
	for _, n := range cfg.Sizes {
		sizes = append(sizes, units.Size(n).String())
	}
	settings := map[string]any{"copy": map[string]any{
		"methods": cfg.Methods, "sizes": sizes, "duration": cfg.Duration, "staging": units.Size(cfg.Staging).String(),
		"cross_process": cfg.CrossProcess, "pin": cfg.Pin, "rounds": cfg.Rounds,
	}}
	out, err := newOutput(outDir, "copybench", settings, hostInfo(ctx, WorkloadCopy))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	pts, err := RunCopy(ctx, cfg)
	for _, p := range pts {
		err = errors.Join(err, out.Add(p.Records()...))
	}
	if err != nil {
		return nil, err
	}
	return out.report(w, CopyPlots(), func(t *results.Table) string { return CopyGoals(t, 1<<20) })
}

// hostInfo is the provenance of a run on this host, measuring the
// metrics of workloads.
func hostInfo(ctx context.Context, workloads ...string) results.Info {
	return results.Info{Metrics: declare(workloads...), Host: results.CollectHost(ctx, results.HostOptions{})}
}

// output is a bake-off's recorder and the metric columns of its table.
type output struct {
	*results.Recorder
	metrics []string // the table's columns, in order
}

// newOutput starts recording a run named name (in dir; "" prints only)
// measuring info's metrics.
func newOutput(dir, name string, settings map[string]any, info results.Info) (*output, error) {
	rec, err := results.NewRecorder(dir, name, settings, info)
	if err != nil {
		return nil, err
	}
	o := &output{Recorder: rec}
	for _, m := range info.Metrics {
		o.metrics = append(o.metrics, m.Name)
	}
	return o, nil
}

// report summarizes the records, prints the table and the goals, and
// with a run directory finishes it: summary.csv, bench.txt and the
// figures (a figure without data is a warning, not a failure).
func (o *output) report(w io.Writer, plots []results.PlotSpec, goals func(*results.Table) string) (*results.Table, error) {
	t, err := o.Finish()
	if err != nil {
		return nil, err
	}
	var files []string
	var plotErr error
	run := o.Run()
	if run != nil {
		files, plotErr = run.DrawPlots(plots)
	}
	fmt.Fprintln(w)
	if err := t.WriteWide(w, o.metrics...); err != nil {
		return t, err
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, goals(t))
	if run == nil {
		return t, nil
	}
	fmt.Fprintf(w, "\nrun %s: %s, %s, %s, %s (benchstat), %s; %d figures (png+svg) in %s/\n", run.Dir, results.ConfigFile, results.HostFile,
		results.SamplesFile, results.BenchFile, results.SummaryFile, len(files)/2, results.PlotsDir)
	if plotErr != nil {
		fmt.Fprintf(w, "warning: %v\n", plotErr)
	}
	return t, nil
}

func mustCPUs() []int {
	c, _ := allowedCPUs()
	return c
}
