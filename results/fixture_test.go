package results

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"polytropon/internal/testenv"
)

// checkGolden compares got with testdata/name (testenv.Golden).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, name, got)
}

// synthSpec describes a synthetic run: systems × pools, reps repetitions,
// throughput per instance around base[system] × scale, with noise.
type synthSpec struct {
	seed    uint64
	systems []string
	pools   []int
	reps    int
	base    map[string]float64 // MB/s per instance
	scale   map[string]float64 // multiplier per system (default 1)
	noise   float64            // relative spread of throughput
	tenants []float64          // weights: per-pool share of bandwidth follows weight^skew
	skew    float64
	failRep int // repetition (1-based) of every point that fails; 0 = none
}

var fixedTime = time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)

// synthRecords builds the records a runner would append.
func synthRecords(s synthSpec) []Record {
	rng := rand.New(rand.NewPCG(s.seed, 7))
	var recs []Record
	for _, sys := range s.systems {
		for _, n := range s.pools {
			params := []Param{{"system", sys}, {"pools", int64(n)}}
			name := "system=" + FormatValue(sys) + "/pools=" + FormatValue(int64(n))
			for rep := 1; rep <= s.reps; rep++ {
				scale := 1.0
				if v, ok := s.scale[sys]; ok {
					scale = v
				}
				for pool := range n {
					share := 1.0
					if len(s.tenants) > 0 {
						share = math.Pow(s.tenants[pool]/s.tenants[0], s.skew)
					}
					mbps := s.base[sys] * scale * share * (1 + s.noise*(rng.Float64()*2-1))
					elapsed := 10 * time.Second
					h, put := NewHistogram(), NewHistogram()
					for i := range 200 {
						d := time.Duration(float64(50+i)*1e3/scale) + time.Duration(rng.IntN(1000))
						h.Record(d)
						if i%2 == 0 {
							put.Record(d)
						}
					}
					recs = append(recs, Record{
						Kind: KindInstance, Point: name, Params: params, Repetition: rep, Workload: "fileserver", Role: "main",
						Pool: pool, Instance: 0, Time: fixedTime,
						Result: &InstanceResult{Ops: int64(mbps * 10 * 8), Bytes: int64(mbps * 10 * 1e6), Elapsed: elapsed,
							Latency: map[string]*Histogram{"all": h, "put": put}, Counters: map[string]float64{"fsync_count": float64(n * 10)}},
					})
				}
				var ms []Metric
				for pool := range n {
					ms = append(ms, Metric{Pool: "p" + FormatValue(int64(pool)), Name: "cpu_steal_seconds", Unit: "s", Value: 0.5 + rng.Float64()/10})
				}
				ms = append(ms, Metric{Name: "lock_wait_seconds", Unit: "s", Value: 1.25, Labels: map[string]string{"lock": "i_mutex_key"}})
				recs = append(recs, Record{Kind: KindRepetition, Point: name, Params: params, Repetition: rep,
					Metrics: ms, OK: rep != s.failRep, Error: map[bool]string{true: "agent crashed"}[rep == s.failRep], Time: fixedTime})
			}
		}
	}
	return recs
}

var (
	fixtureInfo = Info{
		Experiment: "fixture", MainMetric: MetricThroughput, Start: fixedTime, End: fixedTime.Add(time.Hour),
		Host: Host{Hostname: "fixture", Kernel: "Linux 6.18.0 x86_64", CPUModel: "Fixture CPU @ 2.0GHz", Cores: 2,
			MemoryBytes: 24 << 30, CgroupMode: "v2", GoVersion: "go1.26", GitCommit: "0123456789abcdef", CommandLine: []string{"polytropon", "run", "fixture.toml"}},
	}
	baseSpec = synthSpec{seed: 1, systems: []string{"D", "K/K"}, pools: []int{1, 2, 4}, reps: 6,
		base: map[string]float64{"D": 120, "K/K": 80}, noise: 0.03}
)

// writeRun stores records as a finished run at dir (replacing it).
func writeRun(t *testing.T, dir string, info Info, recs []Record) *Run {
	t.Helper()
	tmp := t.TempDir()
	r, err := Create(tmp, info.Experiment)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteConfig([]byte("name = \"" + info.Experiment + "\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteInfo(info); err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if err := r.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Finish(); err != nil {
		t.Fatal(err)
	}
	// Finish stamps the end time; fixtures keep the fixed one.
	r.Info.End = info.End
	if err := r.WriteInfo(r.Info); err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		return r
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(r.Dir, dir); err != nil {
		t.Fatal(err)
	}
	r.Dir = dir
	return r
}
