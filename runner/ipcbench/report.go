package ipcbench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"

	"polytropon/ipc/queue"
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
	// OutDir receives queue.txt (benchfmt), queue.csv and the plots; ""
	// writes nothing.
	OutDir string
}

// QueueBench runs cfg, prints progress, the table and the goal ratios to w,
// and writes the output files. Point failures are in the table, not err.
func QueueBench(ctx context.Context, cfg QueueBenchConfig, w io.Writer) (Table, error) {
	if cfg.Subject == "" {
		cfg.Subject = "rcqb"
	}
	if cfg.Reference == "" {
		cfg.Reference = "channel"
	}
	if err := cfg.Queue.defaults(); err != nil {
		return nil, err
	}
	var t Table
	if !cfg.SkipRTT {
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
		fmt.Fprintf(w, "# ping-pong baseline and round trips over request/response queues (%d rounds, alternating)\n", max(rtt.Rounds, 1))
		pts, err := RunRTTRounds(ctx, rtt)
		for _, p := range pts {
			t = append(t, p.Row())
		}
		if err != nil {
			return t, err
		}
	}
	fmt.Fprintf(w, "# queue bake-off: %d designs x %d waits x %d thread pairs x %v (GOMAXPROCS raised to the thread count; %d CPUs)\n",
		len(cfg.Queue.Designs), len(cfg.Queue.Waits), len(cfg.Queue.pairs()), cfg.Queue.Duration, len(mustCPUs()))
	var clock float64
	_, err := RunQueue(ctx, cfg.Queue, func(p QueuePoint) {
		clock = p.ClockNs
		r := p.Row()
		t = append(t, r)
		if r.Err != "" {
			fmt.Fprintf(w, "  %s: ERROR %s\n", r.Name(), r.Err)
			return
		}
		fmt.Fprintf(w, "  %s: %s items/s, enq %s ns\n", r.Name(), FormatValue(p.Throughput()), FormatValue(p.EnqNs))
	})
	if err != nil {
		return t, err
	}
	fmt.Fprintln(w)
	if err := t.WriteText(w); err != nil {
		return t, err
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, QueueGoals(t, cfg.Subject, cfg.Reference))
	if cfg.OutDir == "" {
		return t, nil
	}
	conf := []Param{{Key: "note", Value: "shared noisy VM; threads beyond the CPU count are oversubscribed"},
		P("clock-ns", FormatValue(clock)), P("work", cfg.Queue.Work), P("duration", cfg.Queue.Duration), P("pin", cfg.Queue.Pin)}
	plots := map[string]func() (*plot.Plot, error){"rtt": func() (*plot.Plot, error) { return RTTPlot(t) }}
	for _, wt := range cfg.Queue.Waits {
		ws := wt.String()
		plots["queue-throughput-"+ws] = func() (*plot.Plot, error) { return QueuePlot(t, "items/s", ws) }
		plots["queue-enqlatency-"+ws] = func() (*plot.Plot, error) { return QueuePlot(t, "enq-ns", ws) }
	}
	return t, writeOutputs(cfg.OutDir, "queue", t, conf, plots, w)
}

// CopyBench runs the copy bake-off, prints the table and the goal ratios,
// and writes copy.txt, copy.csv and copy-bandwidth.{png,svg} to outDir.
func CopyBench(ctx context.Context, cfg CopyConfig, outDir string, w io.Writer) (Table, error) {
	pts, err := RunCopy(ctx, cfg)
	var t Table
	for _, p := range pts {
		t = append(t, p.Row())
	}
	if err != nil {
		return t, err
	}
	if err := t.WriteText(w); err != nil {
		return t, err
	}
	fmt.Fprintln(w)
	fmt.Fprint(w, CopyGoals(t, 1<<20))
	if outDir == "" {
		return t, nil
	}
	conf := []Param{{Key: "note", Value: "shared noisy VM"}, P("duration", cfg.Duration), P("staging", sizeName(cfg.Staging))}
	plots := map[string]func() (*plot.Plot, error){"copy-bandwidth": func() (*plot.Plot, error) { return CopyPlot(t) }}
	return t, writeOutputs(outDir, "copy", t, conf, plots, w)
}

func writeOutputs(dir, base string, t Table, conf []Param, plots map[string]func() (*plot.Plot, error), w io.Writer) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	write := func(name string, f func(io.Writer) error) error {
		path := filepath.Join(dir, name)
		file, err := os.Create(path)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		if err := f(file); err != nil {
			file.Close()
			return fmt.Errorf("bench: write %s: %w", path, err)
		}
		return file.Close()
	}
	if err := write(base+".txt", func(f io.Writer) error { return t.WriteBenchfmt(f, conf...) }); err != nil {
		return err
	}
	if err := write(base+".csv", t.WriteCSV); err != nil {
		return err
	}
	for name, build := range plots {
		p, err := build()
		if err != nil {
			return err
		}
		if err := SavePlot(p, dir, name); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "\nwrote %s/%s.txt (benchstat), %s.csv and %d plots (png+svg)\n", dir, base, base, len(plots))
	return nil
}

func mustCPUs() []int {
	c, _ := allowedCPUs()
	return c
}

// QueueGoals computes the papers' comparisons from one run's table:
// (a) cross-process round trip with spinning waits vs the cross-process
// ping-pong (p50), (b) subject vs every other design at each thread total:
// throughput ratio (subject/rival) and mean-enqueue-latency ratio
// (rival/subject), so that > 1 favours the subject in both.
func QueueGoals(t Table, subject, reference string) string {
	var b strings.Builder
	if pp := t.Filter("PingPong", P("peer", PeerProcess)); len(pp) == 1 && pp[0].Err == "" {
		base, _ := pp[0].Metric("p50-ns")
		fmt.Fprintf(&b, "(a) cross-process round trip p50 / raw ping-pong p50 (%s ns), goal <= 3:\n", FormatValue(base))
		for _, r := range t.Filter("RoundTrip", P("peer", PeerProcess), P("wait", queue.Spin.String())) {
			if r.Err != "" {
				fmt.Fprintf(&b, "    %-10s failed: %s\n", r.Param("design"), r.Err)
				continue
			}
			v, _ := r.Metric("p50-ns")
			fmt.Fprintf(&b, "    %-10s p50 %8s ns  ratio %6.2f  %s\n", r.Param("design"), FormatValue(v), v/base, verdict(v/base <= 3))
		}
	}
	rows := t.Filter("Queue")
	type key struct {
		design, wait string
		threads      int
	}
	tput, enq := map[key]float64{}, map[key]float64{}
	var designs, waits []string
	var threads []int
	seenD, seenW, seenT := map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, r := range rows {
		if r.Err != "" {
			continue
		}
		p, _ := strconv.Atoi(r.Param("producers"))
		c, _ := strconv.Atoi(r.Param("consumers"))
		k := key{r.Param("design"), r.Param("wait"), p + c}
		tput[k], _ = r.Metric("items/s")
		enq[k], _ = r.Metric("enq-ns")
		if !seenD[k.design] {
			seenD[k.design] = true
			designs = append(designs, k.design)
		}
		if !seenW[k.wait] {
			seenW[k.wait] = true
			waits = append(waits, k.wait)
		}
		if !seenT[k.threads] {
			seenT[k.threads] = true
			threads = append(threads, k.threads)
		}
	}
	if !seenD[subject] {
		fmt.Fprintf(&b, "(b) no %s points: no queue ratios\n", subject)
		return b.String()
	}
	fmt.Fprintf(&b, "(b) %s vs each design: throughput ratio %s/rival and enqueue-latency ratio rival/%s (>1 favours %s); goal vs %s >= 5\n", subject, subject, subject, subject, reference)
	for _, wt := range waits {
		fmt.Fprintf(&b, "  wait=%s, threads (producers+consumers):", wt)
		for _, n := range threads {
			fmt.Fprintf(&b, " %11d", n)
		}
		fmt.Fprintln(&b)
		for _, d := range designs {
			if d == subject {
				continue
			}
			fmt.Fprintf(&b, "    %-12s tput  ", d)
			for _, n := range threads {
				fmt.Fprintf(&b, " %11s", ratio(tput[key{subject, wt, n}], tput[key{d, wt, n}]))
			}
			fmt.Fprintf(&b, "\n    %-12s enq   ", "")
			for _, n := range threads {
				fmt.Fprintf(&b, " %11s", ratio(enq[key{d, wt, n}], enq[key{subject, wt, n}]))
			}
			fmt.Fprintln(&b)
		}
		if seenD[reference] {
			lo, hi := 0.0, 0.0
			for _, n := range threads {
				s, r := tput[key{subject, wt, n}], tput[key{reference, wt, n}]
				if s <= 0 || r <= 0 {
					continue
				}
				if q := s / r; lo == 0 || q < lo {
					lo = q
				}
				if q := s / r; q > hi {
					hi = q
				}
			}
			fmt.Fprintf(&b, "    => %s/%s throughput %.2fx..%.2fx, goal >= 5: %s\n", subject, reference, lo, hi, verdict(lo >= 5))
		}
	}
	return b.String()
}

// CopyGoals compares SMO with SMC and CMA (goals SMO/SMC >= 1.3, SMO/CMA
// >= 1), both within one process and across two, and with the plain
// one-copy memcpy (goal SMO/plain >= 0.5), at size bytes: by the median
// copy (robust to preemption by other load) and by the mean.
func CopyGoals(t Table, size int) string {
	var b strings.Builder
	get := func(method string, procs int, unit string) float64 {
		rs := t.Filter("Copy", P("method", method), P("procs", procs), P("size", sizeName(size)))
		if len(rs) != 1 || rs[0].Err != "" {
			return 0
		}
		v, _ := rs[0].Metric(unit)
		return v
	}
	fmt.Fprintf(&b, "(c) SMO at %s, GB/s of the median copy [of the mean]; procs=2: the data ends in another process:\n", sizeName(size))
	for _, c := range []struct {
		method            string
		smoProcs, vsProcs int
		goal              float64
	}{{"SMC", 1, 1, 1.3}, {"SMC", 2, 2, 1.3}, {"CMA", 1, 1, 1}, {"CMA", 2, 2, 1}, {"plain", 1, 1, 0.5}, {"plain", 2, 1, 0.5}} {
		smo, v := get("SMO", c.smoProcs, "p50-GB/s"), get(c.method, c.vsProcs, "p50-GB/s")
		smoMean, vMean := get("SMO", c.smoProcs, "GB/s"), get(c.method, c.vsProcs, "GB/s")
		if smo == 0 || v == 0 || smoMean == 0 || vMean == 0 {
			fmt.Fprintf(&b, "    SMO procs=%d vs %s procs=%d: not measured\n", c.smoProcs, c.method, c.vsProcs)
			continue
		}
		fmt.Fprintf(&b, "    SMO procs=%d %6s vs %-5s procs=%d %6s  ratio %5.2f [%5.2f]  goal >= %.1f  %s\n",
			c.smoProcs, FormatValue(smo), c.method, c.vsProcs, FormatValue(v), smo/v, smoMean/vMean, c.goal, verdict(smo/v >= c.goal))
	}
	return b.String()
}

func ratio(num, den float64) string {
	if num <= 0 || den <= 0 {
		return "-"
	}
	return strconv.FormatFloat(num/den, 'f', 2, 64) + "x"
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}
