package ipcbench

import (
	"fmt"
	"slices"
	"time"

	"polytropon/internal/units"
	"polytropon/results"
)

// The bake-off reports through package results. A point (a queue design
// at a wait strategy and thread counts, a round trip, a copy method at a
// size) is a results point named by its typed params; each round of a
// point (QueueConfig.Rounds, RTTConfig.Rounds, CopyConfig.Rounds) is one
// repetition record of it carrying the round's metrics, or its error. The
// metrics are declared with their units and directions in the run's
// host.json (results.Info.Metrics).

// Workloads: the benchmark names of the points in bench.txt
// (BenchmarkQueue/design=rcqb/..., BenchmarkRoundTrip/..., BenchmarkCopy/...).
const (
	WorkloadQueue     = "queue"      // params design, wait, producers, consumers, threads, work
	WorkloadRoundTrip = "round-trip" // params design, wait, peer
	WorkloadCopy      = "copy"       // params method, procs, size
)

// DesignPingPong is the raw cache-line ping-pong among the round-trip
// designs: the baseline of goal (a).
const DesignPingPong = "pingpong"

// Metrics of the bake-off: one value per round of a point.
const (
	MetricItemsPerSec  = "items_per_sec"         // queue: items per second end to end
	MetricEnqueueNs    = "enqueue_ns"            // queue: mean Enqueue latency, clock cost subtracted
	MetricItems        = "items"                 // queue: items through the queue
	MetricRTTMean      = "rtt_mean_ns"           // round trip: mean
	MetricRTTP50       = "rtt_p50_ns"            // round trip: median
	MetricRTTP99       = "rtt_p99_ns"            // round trip: 99th percentile
	MetricRTTP999      = "rtt_p999_ns"           // round trip: 99.9th percentile
	MetricTrips        = "round_trips"           // round trip: trips measured
	MetricGBps         = "bandwidth_gbps"        // copy: payload GB/s over all copies
	MetricMedianGBps   = "median_bandwidth_gbps" // copy: GB/s of the median copy
	MetricCopyNs       = "copy_ns"               // copy: mean time per copy
	MetricMedianCopyNs = "median_copy_ns"        // copy: the median copy's time
	MetricCopies       = "copies"                // copy: copies measured
)

// workloadMetrics declares each workload's metrics: the units are the Go
// benchmark units of bench.txt; counts of a round bounded in time are
// higher-is-better.
var workloadMetrics = map[string][]results.MetricInfo{
	WorkloadQueue: {
		{Name: MetricItemsPerSec, Unit: "items/s", HigherIsBetter: true},
		{Name: MetricEnqueueNs, Unit: "enq-ns"},
		{Name: MetricItems, Unit: "items", HigherIsBetter: true},
	},
	WorkloadRoundTrip: {
		{Name: MetricRTTMean, Unit: "ns/op"},
		{Name: MetricRTTP50, Unit: "p50-ns"},
		{Name: MetricRTTP99, Unit: "p99-ns"},
		{Name: MetricRTTP999, Unit: "p99.9-ns"},
		{Name: MetricTrips, Unit: "trips", HigherIsBetter: true},
	},
	WorkloadCopy: {
		{Name: MetricGBps, Unit: "GB/s", HigherIsBetter: true},
		{Name: MetricMedianGBps, Unit: "p50-GB/s", HigherIsBetter: true},
		{Name: MetricCopyNs, Unit: "ns/op"},
		{Name: MetricMedianCopyNs, Unit: "p50-ns"},
		{Name: MetricCopies, Unit: "copies", HigherIsBetter: true},
	},
}

// declare lists the metrics of workloads, for results.Info.Metrics.
func declare(workloads ...string) []results.MetricInfo {
	var out []results.MetricInfo
	for _, w := range workloads {
		out = append(out, workloadMetrics[w]...)
	}
	return out
}

// roundMetrics pairs a workload's declared metrics, in order, with a round's
// values.
func roundMetrics(workload string, values ...float64) []results.Metric {
	decl := workloadMetrics[workload]
	if len(values) != len(decl) {
		panic(fmt.Sprintf("bench: %d values for the %d metrics of %s", len(values), len(decl), workload))
	}
	out := make([]results.Metric, len(decl))
	for i, mi := range decl {
		out[i] = results.Metric{Name: mi.Name, Unit: mi.Unit, Value: values[i]}
	}
	return out
}

// records makes the repetition records of a point, one per round: the
// round's metrics, or its error.
func records(workload string, ps []results.Param, rounds int, round func(i int) ([]results.Metric, error)) []results.Record {
	name := results.PointName(ps)
	out := make([]results.Record, rounds)
	for i := range out {
		out[i] = results.Record{Kind: results.KindRepetition, Point: name, Params: ps, Repetition: i, Workload: workload}
		if ms, err := round(i); err != nil {
			out[i].Error = err.Error()
		} else {
			out[i].OK, out[i].Metrics = true, ms
		}
	}
	return out
}

func nanos(d time.Duration) float64 { return float64(d.Nanoseconds()) }

// Params are the point's typed params.
func (p QueuePoint) Params() []results.Param {
	return []results.Param{{Key: "design", Value: p.Design}, {Key: "wait", Value: p.Wait.String()},
		{Key: "producers", Value: int64(p.Producers)}, {Key: "consumers", Value: int64(p.Consumers)},
		{Key: "threads", Value: int64(p.Producers + p.Consumers)}, {Key: "work", Value: p.Work.String()}}
}

// Name is the point's name: design=rcqb/wait=spin/producers=1/consumers=1/threads=2/work=0s.
func (p QueuePoint) Name() string { return results.PointName(p.Params()) }

// Records are the point's results, a repetition per round.
func (p QueuePoint) Records() []results.Record {
	return records(WorkloadQueue, p.Params(), len(p.PerRound), func(i int) ([]results.Metric, error) {
		r := p.PerRound[i]
		return roundMetrics(WorkloadQueue, r.Throughput(), r.EnqNs, float64(r.Items)), r.Err
	})
}

func rttParams(design, wait, peer string) []results.Param {
	return []results.Param{{Key: "design", Value: design}, {Key: "wait", Value: wait}, {Key: "peer", Value: peer}}
}

// Params are the point's typed params.
func (p RTTPoint) Params() []results.Param { return rttParams(p.Design, p.Wait, p.Peer) }

// Name is the point's name: design=rcqb/wait=spin/peer=process.
func (p RTTPoint) Name() string { return results.PointName(p.Params()) }

// Records are the point's results, a repetition per round.
func (p RTTPoint) Records() []results.Record {
	return records(WorkloadRoundTrip, p.Params(), len(p.PerRound), func(i int) ([]results.Metric, error) {
		r := p.PerRound[i]
		return roundMetrics(WorkloadRoundTrip, nanos(r.Mean), nanos(r.P50), nanos(r.P99), nanos(r.P999), float64(r.Count)), r.Err
	})
}

func copyParams(method string, procs, size int) []results.Param {
	return []results.Param{{Key: "method", Value: method}, {Key: "procs", Value: int64(procs)}, {Key: "size", Value: units.Size(size).String()}}
}

// Params are the point's typed params; the size is written as
// units.Size writes it (4KiB).
func (p CopyPoint) Params() []results.Param { return copyParams(p.Method, p.Procs, p.Size) }

// Name is the point's name: method=SMO/procs=2/size=1MiB.
func (p CopyPoint) Name() string { return results.PointName(p.Params()) }

// Records are the point's results, a repetition per round.
func (p CopyPoint) Records() []results.Record {
	return records(WorkloadCopy, p.Params(), len(p.PerRound), func(i int) ([]results.Metric, error) {
		r := p.PerRound[i]
		return roundMetrics(WorkloadCopy, gbps(p.Size, r.Copies, r.Elapsed), gbps(p.Size, 1, r.P50),
			nanos(r.Elapsed)/float64(max(r.Copies, 1)), nanos(r.P50), float64(r.Copies)), r.Err
	})
}

// QueuePlots are the queue figures, per wait strategy: task throughput
// and mean enqueue latency against the thread count, a line per design,
// on log axes.
func QueuePlots(waits []string) []results.PlotSpec {
	var out []results.PlotSpec
	for _, w := range waits {
		for _, f := range []struct{ file, y, what string }{
			{"queue-throughput-", MetricItemsPerSec, "task throughput"},
			{"queue-enqlatency-", MetricEnqueueNs, "mean enqueue latency"},
		} {
			out = append(out, results.PlotSpec{Kind: "line", X: "threads", Y: f.y, Series: "design", ErrorBars: true, LogX: true, LogY: true,
				Where: []results.Param{{Key: "wait", Value: w}}, Title: fmt.Sprintf("Queue designs, wait=%s: %s", w, f.what), File: f.file + w})
		}
	}
	return out
}

// RTTPlots are the round-trip figures, per peer kind: the median and the
// 99th percentile round trip per design (the ping-pong baseline first),
// a bar per wait strategy, on a log axis.
func RTTPlots(peers []string) []results.PlotSpec {
	var out []results.PlotSpec
	for _, peer := range peers {
		for _, f := range []struct{ y, what string }{{MetricRTTP50, "p50"}, {MetricRTTP99, "p99"}} {
			out = append(out, results.PlotSpec{Kind: "bar", X: "design", Y: f.y, Series: "wait", ErrorBars: true, LogY: true,
				Where: []results.Param{{Key: "peer", Value: peer}}, Title: fmt.Sprintf("Round trips, peer %s: %s", peer, f.what),
				File: "rtt-" + peer + "-" + f.what})
		}
	}
	return out
}

// CopyPlots is the copy figure: the bandwidth of the median copy against
// the size (log axis, byte sizes), a line per method and process count.
func CopyPlots() []results.PlotSpec {
	return []results.PlotSpec{{Kind: "line", X: "size", XBytes: true, LogX: true, Y: MetricMedianGBps, Series: "method", ErrorBars: true,
		Title: "Copy methods: bandwidth of the median copy", File: "copy-bandwidth"}}
}

// Plots are the figures of a stored queuebench or copybench run (known
// by its experiment name), for polytropon plot to redraw: the wait
// strategies and peers are those the run measured. ok is false for
// other runs.
func Plots(run *results.Run) (specs []results.PlotSpec, ok bool) {
	switch run.Info.Experiment {
	case "queuebench":
		t := run.Table()
		return append(RTTPlots(paramValues(t, WorkloadRoundTrip, "peer")), QueuePlots(paramValues(t, WorkloadQueue, "wait"))...), true
	case "copybench":
		return CopyPlots(), true
	}
	return nil, false
}

// paramValues lists the values of key at the points of workload, in
// table order.
func paramValues(t *results.Table, workload, key string) []string {
	var out []string
	for _, r := range t.Rows {
		for _, p := range r.Params {
			if v := results.FormatValue(p.Value); r.Workload == workload && p.Key == key && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out
}
