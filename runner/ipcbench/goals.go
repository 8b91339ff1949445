package ipcbench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"polytropon/internal/units"
	"polytropon/ipc/queue"
	"polytropon/results"
)

// The goal verdicts read a run's results table. A point's value is the
// median over its rounds; a point with a failed round counts as failed.

// goalPoint is a point of the table with its first failure, if any.
type goalPoint struct {
	name   string
	params []results.Param
	err    string
}

// goalPoints lists the points of t in table order, then those that have
// no row (every round failed), each with its first failure.
func goalPoints(t *results.Table) []goalPoint {
	var out []goalPoint
	add := func(name string, ps []results.Param) *goalPoint {
		i := slices.IndexFunc(out, func(p goalPoint) bool { return p.name == name })
		if i < 0 {
			i = len(out)
			out = append(out, goalPoint{name: name, params: ps})
		}
		return &out[i]
	}
	for _, r := range t.Rows {
		add(r.Point, r.Params)
	}
	for _, f := range t.Failures {
		if p := add(f.Point, f.Params); p.err == "" {
			p.err = f.Error
		}
	}
	return out
}

// param is the value of key ("" when the point has none).
func (p goalPoint) param(key string) string {
	for _, kv := range p.params {
		if kv.Key == key {
			return results.FormatValue(kv.Value)
		}
	}
	return ""
}

// median is the point's median of metric; 0 when it failed or has none.
func (p goalPoint) median(t *results.Table, metric string) float64 {
	if p.err != "" {
		return 0
	}
	if r := t.Lookup(p.name, metric); r != nil && r.N > 0 {
		return r.Median
	}
	return 0
}

// QueueGoals computes the papers' comparisons from one run's table:
// (a) cross-process round trip with spinning waits vs the cross-process
// ping-pong (p50), (b) subject vs every other design at each thread total:
// throughput ratio (subject/rival) and mean-enqueue-latency ratio
// (rival/subject), so that > 1 favours the subject in both.
func QueueGoals(t *results.Table, subject, reference string) string {
	var b strings.Builder
	pts := goalPoints(t)
	spin := queue.Spin.String()
	pingpong := results.PointName(rttParams(DesignPingPong, spin, PeerProcess))
	if i := slices.IndexFunc(pts, func(p goalPoint) bool { return p.name == pingpong }); i >= 0 && pts[i].median(t, MetricRTTP50) > 0 {
		base := pts[i].median(t, MetricRTTP50)
		fmt.Fprintf(&b, "(a) cross-process round trip p50 / raw ping-pong p50 (%s ns), goal <= 3:\n", results.FormatNumber(base))
		for _, p := range pts {
			if p.param("peer") != PeerProcess || p.param("wait") != spin || p.param("design") == DesignPingPong {
				continue
			}
			if p.err != "" {
				fmt.Fprintf(&b, "    %-10s failed: %s\n", p.param("design"), p.err)
				continue
			}
			v := p.median(t, MetricRTTP50)
			fmt.Fprintf(&b, "    %-10s p50 %8s ns  ratio %6.2f  %s\n", p.param("design"), results.FormatNumber(v), v/base, verdict(v/base <= 3))
		}
	}
	type key struct {
		design, wait string
		threads      int
	}
	tput, enq := map[key]float64{}, map[key]float64{}
	var designs, waits []string
	var threads []int
	seenD, seenW, seenT := map[string]bool{}, map[string]bool{}, map[int]bool{}
	for _, pt := range pts {
		if pt.param("producers") == "" || pt.err != "" { // not a queue point, or failed
			continue
		}
		p, _ := strconv.Atoi(pt.param("producers"))
		c, _ := strconv.Atoi(pt.param("consumers"))
		k := key{pt.param("design"), pt.param("wait"), p + c}
		tput[k], enq[k] = pt.median(t, MetricItemsPerSec), pt.median(t, MetricEnqueueNs)
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
func CopyGoals(t *results.Table, size int) string {
	var b strings.Builder
	pts := goalPoints(t)
	get := func(method string, procs int, metric string) float64 {
		name := results.PointName(copyParams(method, procs, size))
		if i := slices.IndexFunc(pts, func(p goalPoint) bool { return p.name == name }); i >= 0 {
			return pts[i].median(t, metric)
		}
		return 0
	}
	fmt.Fprintf(&b, "(c) SMO at %v, GB/s of the median copy [of the mean]; procs=2: the data ends in another process:\n", units.Size(size))
	for _, c := range []struct {
		method            string
		smoProcs, vsProcs int
		goal              float64
	}{{"SMC", 1, 1, 1.3}, {"SMC", 2, 2, 1.3}, {"CMA", 1, 1, 1}, {"CMA", 2, 2, 1}, {"plain", 1, 1, 0.5}, {"plain", 2, 1, 0.5}} {
		smo, v := get("SMO", c.smoProcs, MetricMedianGBps), get(c.method, c.vsProcs, MetricMedianGBps)
		smoMean, vMean := get("SMO", c.smoProcs, MetricGBps), get(c.method, c.vsProcs, MetricGBps)
		if smo == 0 || v == 0 || smoMean == 0 || vMean == 0 {
			fmt.Fprintf(&b, "    SMO procs=%d vs %s procs=%d: not measured\n", c.smoProcs, c.method, c.vsProcs)
			continue
		}
		fmt.Fprintf(&b, "    SMO procs=%d %6s vs %-5s procs=%d %6s  ratio %5.2f [%5.2f]  goal >= %.1f  %s\n",
			c.smoProcs, results.FormatNumber(smo), c.method, c.vsProcs, results.FormatNumber(v), smo/v, smoMean/vMean, c.goal, verdict(smo/v >= c.goal))
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
