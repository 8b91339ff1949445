package ipcbench

import (
	"context"
	"testing"
	"time"

	"polytropon/internal/units"
	xcopy "polytropon/ipc/copy"
	"polytropon/ipc/queue"
	"polytropon/results"
)

var allWaits = []queue.Wait{queue.Spin, queue.SpinFutex, queue.Futex}

// BenchmarkQueue: b.N items through each design and wait strategy, one and
// two threads per side; ns/op is wall time per item.
func BenchmarkQueue(b *testing.B) {
	for _, d := range queue.Designs() {
		for _, w := range allWaits {
			for _, n := range []int{1, 2} {
				name := results.PointName([]results.Param{{Key: "design", Value: d.Name}, {Key: "wait", Value: w.String()},
					{Key: "producers", Value: int64(n)}, {Key: "consumers", Value: int64(n)}})
				b.Run(name, func(b *testing.B) {
					cfg := QueueConfig{Duration: time.Hour, MaxItems: int64(max(b.N, n))}
					if err := cfg.defaultsFor(d); err != nil {
						b.Fatal(err)
					}
					b.ResetTimer()
					pt := runQueuePoint(context.Background(), d, w, n, n, cfg)
					b.StopTimer()
					if pt.Err != nil {
						b.Fatal(pt.Err)
					}
					b.ReportMetric(pt.Throughput(), "items/s")
					b.ReportMetric(max(0, pt.EnqNs-clockCost()), "enq-ns")
				})
			}
		}
	}
}

// BenchmarkRoundTrip: b.N request/response round trips per Shared design,
// wait strategy and peer kind, plus the raw ping-pong.
func BenchmarkRoundTrip(b *testing.B) {
	report := func(b *testing.B, l *Latencies) {
		b.ReportMetric(float64(l.Quantile(0.5)), "p50-ns")
		b.ReportMetric(float64(l.Quantile(0.99)), "p99-ns")
	}
	defer raiseProcs(3)()
	base := RTTConfig{Duration: time.Hour, Warmup: 100, Launcher: testLauncher(), Pin: true}
	if err := base.defaults(); err != nil {
		b.Fatal(err)
	}
	for _, peer := range []string{PeerThread, PeerProcess} {
		b.Run(RTTPoint{Design: DesignPingPong, Wait: queue.Spin.String(), Peer: peer}.Name(), func(b *testing.B) {
			cfg := base
			cfg.MaxTrips = int64(b.N)
			var l *Latencies
			var err error
			if peer == PeerThread {
				l, err = pingPongThreads(cfg)
			} else {
				l, err = pingPongProcesses(cfg)
			}
			if err != nil {
				b.Fatal(err)
			}
			report(b, l)
		})
	}
	for _, d := range queue.Designs() {
		if !d.Shared {
			continue
		}
		for _, w := range allWaits {
			for _, peer := range []string{PeerThread, PeerProcess} {
				b.Run(RTTPoint{Design: d.Name, Wait: w.String(), Peer: peer}.Name(), func(b *testing.B) {
					cfg := base
					cfg.MaxTrips = int64(b.N)
					l, err := roundTripPoint(d, w, peer, cfg)
					if err != nil {
						b.Fatal(err)
					}
					report(b, l)
				})
			}
		}
	}
}

// BenchmarkCopy: every method by size through a System V staging buffer;
// b.SetBytes makes benchstat report MB/s.
func BenchmarkCopy(b *testing.B) {
	const maxSize = 16 << 20
	seg, err := newSegment(maxSize)
	if err != nil {
		b.Fatal(err)
	}
	defer seg.Detach()
	src, dst := alignedBytes(maxSize, 4096), alignedBytes(maxSize, 4096)
	fillPattern(src)
	for _, s := range xcopy.Specs() {
		m, err := s.New(xcopy.Options{Staging: seg.Bytes()})
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{4 << 10, 64 << 10, 1 << 20, 16 << 20} {
			b.Run(results.PointName([]results.Param{{Key: "method", Value: s.Name}, {Key: "size", Value: units.Size(size).String()}}), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					if _, err := m.Copy(dst[:size], src[:size]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
