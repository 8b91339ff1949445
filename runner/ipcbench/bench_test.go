package ipcbench

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/ipc/queue"
)

func TestMain(m *testing.M) {
	MainIfPeer() // a re-executed test binary serves as the peer process
	code := m.Run()
	testenv.RemoveBuilt() // built by the service-path benchmarks
	os.Exit(code)
}

func testLauncher() Launcher { return EnvLauncher(os.Args[0]) }

// defaultsFor fills the defaults for a point of design d, which need not
// be registered.
func (c *QueueConfig) defaultsFor(d queue.Design) error {
	c.Designs = []string{d.Name}
	saved := c.Designs
	c.Designs = nil // validate against the registry without d...
	err := c.defaults()
	c.Designs = saved // ...then measure d only
	return err
}

func TestQueueEveryDesignAndWait(t *testing.T) {
	cfg := QueueConfig{Producers: []int{1, 2}, Consumers: []int{1, 3}, Cross: true,
		Duration: 15 * time.Millisecond, Work: 100 * time.Nanosecond, OpTimeout: 2 * time.Second}
	pts, err := RunQueue(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range pts {
		if p.Err != nil {
			t.Errorf("%s/%v/%dx%d: %v", p.Design, p.Wait, p.Producers, p.Consumers, p.Err)
			continue
		}
		seen[p.Design]++
		if p.Items <= 0 || p.Throughput() <= 0 || p.EnqNs < 0 || p.Elapsed <= 0 {
			t.Errorf("%s/%v/%dx%d: items %d, throughput %v, enq %v ns, elapsed %v; want positive", p.Design, p.Wait, p.Producers, p.Consumers, p.Items, p.Throughput(), p.EnqNs, p.Elapsed)
		}
		if recs := p.Records(); len(recs) != 1 || !recs[0].OK || recs[0].Workload != WorkloadQueue ||
			!strings.HasPrefix(recs[0].Point, "design="+p.Design+"/wait=") || len(recs[0].Metrics) != 3 {
			t.Errorf("records %+v, want one OK queue round with 3 metrics", recs)
		}
	}
	for _, d := range queue.Designs() {
		if want := 3 * 4; seen[d.Name] != want {
			t.Errorf("design %s: %d good points, want %d (3 waits x 4 thread pairs)", d.Name, seen[d.Name], want)
		}
	}
}

func TestQueueItemBudgetIsExact(t *testing.T) {
	for _, noLock := range []bool{false, true} {
		pts, err := RunQueue(context.Background(), QueueConfig{Designs: []string{"test-ring"}, Waits: []queue.Wait{queue.Spin},
			Producers: []int{2}, Consumers: []int{2}, Duration: time.Minute, MaxItems: 5000, NoLock: noLock, Rounds: 2}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(pts) != 1 || pts[0].Err != nil || pts[0].Items != 5000 || pts[0].Rounds != 2 || len(pts[0].PerRound) != 2 ||
			pts[0].PerRound[0].Items+pts[0].PerRound[1].Items != 5000 {
			t.Fatalf("NoLock=%v: got %+v, want one point with exactly 5000 items in 2 rounds", noLock, pts)
		}
	}
}

// faulty wraps the test channel: every 100th enqueue is dropped (lose) or
// delivered twice (dup).
type faulty struct {
	*testChan
	n    int
	lose bool
}

func (f *faulty) Enqueue(v uint64) error {
	f.n++ // one producer only
	if f.n%100 != 0 {
		return f.testChan.Enqueue(v)
	}
	if f.lose {
		return nil
	}
	if err := f.testChan.Enqueue(v); err != nil {
		return err
	}
	return f.testChan.Enqueue(v)
}

func TestQueueDetectsLostAndDuplicatedItems(t *testing.T) {
	for _, lose := range []bool{true, false} {
		d := queue.Design{Name: "faulty", New: func(_ []byte, cfg queue.Config, _ bool) (queue.Queue, error) {
			return &faulty{testChan: &testChan{c: make(chan uint64, 64), done: make(chan struct{})}, lose: lose}, nil
		}}
		cfg := QueueConfig{Duration: 10 * time.Millisecond, OpTimeout: 50 * time.Millisecond}
		if err := cfg.defaultsFor(d); err != nil {
			t.Fatal(err)
		}
		pt := runQueuePoint(context.Background(), d, queue.Spin, 1, 2, cfg)
		if pt.Err == nil {
			t.Errorf("lose=%v: no error, items %d", lose, pt.Items)
		}
	}
}

func TestQueueConfigErrors(t *testing.T) {
	bad := []QueueConfig{
		{Designs: []string{"no-such-design"}},
		{Producers: []int{0}},
		{Producers: []int{1, 2}, Consumers: []int{1, 2, 3}},
	}
	for _, c := range bad {
		if _, err := RunQueue(context.Background(), c, nil); err == nil {
			t.Errorf("RunQueue(%+v): no error", c)
		}
	}
}

func TestPingPong(t *testing.T) {
	for _, c := range []RTTConfig{{Pin: true}, {}, {NoLock: true}} {
		c.Duration, c.Launcher = 20*time.Millisecond, testLauncher()
		pts, err := RunPingPong(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		checkRTT(t, pts, 2)
	}
}

func TestRTTRoundsPool(t *testing.T) {
	cfg := RTTConfig{Duration: 20 * time.Millisecond, Warmup: 20, MaxTrips: 400, Rounds: 2, Launcher: testLauncher(),
		Designs: []string{"test-ring"}, Waits: []string{"spin"}, Peers: []string{PeerProcess}}
	pts, err := RunRTTRounds(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	checkRTT(t, pts, 2) // ping-pong and test-ring, process peer only
	for _, p := range pts {
		if p.Err == nil && p.Hist.Count() > 400 {
			t.Errorf("%s: %d samples pooled, want at most 2 rounds x 200", p.Name(), p.Hist.Count())
		}
		if len(p.PerRound) != 2 || len(p.Records()) != 2 {
			t.Errorf("%s: %d rounds, %d records; want 2 of each", p.Name(), len(p.PerRound), len(p.Records()))
		}
	}
}

func TestRoundTripEverySharedDesign(t *testing.T) {
	cfg := RTTConfig{Duration: 10 * time.Millisecond, Warmup: 50, Launcher: testLauncher()}
	pts, err := RunRoundTrip(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	for _, d := range queue.Designs() {
		if d.Shared {
			shared++
		}
	}
	checkRTT(t, pts, shared*3*2)
	if _, err := RunRoundTrip(context.Background(), RTTConfig{Designs: []string{"test-chan"}, Launcher: testLauncher()}); err == nil {
		t.Error("round trip over an in-process design: no error")
	}
}

func checkRTT(t *testing.T, pts []RTTPoint, want int) {
	t.Helper()
	if len(pts) != want {
		t.Errorf("%d points, want %d", len(pts), want)
	}
	for _, p := range pts {
		if p.Err != nil {
			t.Errorf("%s: %v", p.Name(), p.Err)
			continue
		}
		for _, rec := range p.Records() {
			v := map[string]float64{}
			for _, m := range rec.Metrics {
				v[m.Name] = m.Value
			}
			n, p50, p99, p999 := v[MetricTrips], v[MetricRTTP50], v[MetricRTTP99], v[MetricRTTP999]
			if !rec.OK || n <= 0 || p50 <= 0 || p50 > p99 || p99 > p999 {
				t.Errorf("%s round %d: ok=%v n=%v p50=%v p99=%v p99.9=%v; want n>0 and 0 < p50 <= p99 <= p99.9", p.Name(), rec.Repetition, rec.OK, n, p50, p99, p999)
			}
		}
	}
}

func TestCopyEveryMethodAndPeer(t *testing.T) {
	sizes := []int{4096, 1<<20 + 3}
	pts, err := RunCopy(context.Background(), CopyConfig{Sizes: sizes, Duration: 5 * time.Millisecond, Staging: 64 << 10,
		CrossProcess: true, Launcher: testLauncher(), Rounds: 2})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, p := range pts {
		if p.Err != nil {
			t.Errorf("%v", p.Err)
			continue
		}
		seen[fmt.Sprintf("%s/%d", p.Method, p.Procs)]++
		if p.Copies <= 0 || p.GBps() <= 0 {
			t.Errorf("%s/%d/%d: %d copies, %v GB/s", p.Method, p.Procs, p.Size, p.Copies, p.GBps())
		}
	}
	for _, k := range []string{"plain/1", "SMC/1", "SMC/2", "SMO/1", "SMO/2", "CMA/1", "CMA/2"} {
		if seen[k] != len(sizes) {
			t.Errorf("%s: %d points, want %d", k, seen[k], len(sizes))
		}
	}
}

func TestPeerRejectsBadConfig(t *testing.T) {
	for _, c := range []PeerConfig{{Mode: "bogus"}, {Mode: ModeCMA, CPU: cpuFree}, {Mode: ModeQueue, ShmID: -1, CPU: cpuFree}} {
		if err := RunPeer(c, strings.NewReader(""), &strings.Builder{}); err == nil {
			t.Errorf("RunPeer(%+v): no error", c)
		}
	}
}

func TestLatencies(t *testing.T) {
	l := newLatencies(0)
	for i := 100; i >= 1; i-- {
		l.Record(time.Duration(i))
	}
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0.5, 50}, {0.99, 99}, {0.999, 100}, {0, 1}} {
		if got := l.Quantile(c.q); got != c.want {
			t.Errorf("Quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if l.Mean() != 50 { // 50.5 truncated
		t.Errorf("Mean = %v, want 50ns", l.Mean())
	}
}
