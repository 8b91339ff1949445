package results

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// abSim simulates measurements of one metric (higher is better, 100 at
// the start) on a host whose performance drifts slowly: every measurement
// is drift^t times a normal noise of relative sd noise, where t counts
// measurements in the order they ran; the new build is worse by harm.
type abSim struct {
	rounds      int
	noise       float64
	driftPerRun float64 // e.g. -0.01: the host loses 1% per measurement
	harm        float64
	interleaved bool // ABBA rounds; else all of base, then all of new
	pts         []string
}

var simHost = Host{Hostname: "sim", Kernel: "Linux 6.18.0 x86_64", CgroupMode: "hybrid", Cores: 2}

func (s abSim) value(rng *rand.Rand, t int, isNew bool) float64 {
	v := 100 * math.Pow(1+s.driftPerRun, float64(t)) * (1 + s.noise*rng.NormFloat64())
	if isNew {
		v *= 1 - s.harm
	}
	return v
}

func simRecord(point string, round int, v float64) Record {
	return Record{Kind: KindRepetition, Point: point, Params: []Param{{"system", point}}, Repetition: round, OK: true,
		Metrics: []Metric{{Name: MetricThroughput, Unit: "MB/s", Value: v}}, Time: fixedTime}
}

func (s abSim) points() []string {
	if len(s.pts) == 0 {
		return []string{"system=D"}
	}
	return s.pts
}

// abRun is one interleaved A/B run of the simulation.
func (s abSim) abRun(t *testing.T, rng *rand.Rand) *Run {
	info := Info{Experiment: "sim", Host: simHost, AB: &ABInfo{Base: ABSide{Spec: "main", Host: simHost},
		New: ABSide{Spec: "candidate", Host: simHost}, Rounds: s.rounds}}
	var recs []Record
	tick := 0
	for r := range s.rounds {
		order := []bool{false, true} // base, then new
		info.AB.Order = append(info.AB.Order, "AB")
		if r%2 == 1 {
			order = []bool{true, false}
			info.AB.Order[r] = "BA"
		}
		for _, isNew := range order {
			side := SideBase
			if isNew {
				side = SideNew
			}
			for _, pt := range s.points() {
				recs = append(recs, SideRecord(simRecord(pt, 0, s.value(rng, tick, isNew)), side, r))
			}
			tick++
		}
	}
	return &Run{Dir: t.TempDir(), Info: info, Records: recs}
}

// sequentialRuns are a base run and then a new run of the simulation.
func (s abSim) sequentialRuns(t *testing.T, rng *rand.Rand) (*Run, *Run) {
	mk := func(isNew bool, start int) *Run {
		var recs []Record
		for r := range s.rounds {
			for _, pt := range s.points() {
				recs = append(recs, simRecord(pt, r, s.value(rng, start+r, isNew)))
			}
		}
		return &Run{Dir: t.TempDir(), Info: Info{Experiment: "sim", Host: simHost}, Records: recs}
	}
	return mk(false, 0), mk(true, s.rounds)
}

// verdicts runs trials of the simulation and counts each row's verdicts.
func (s abSim) verdicts(t *testing.T, trials int, seed uint64) map[Verdict]int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 18))
	count := map[Verdict]int{}
	for range trials {
		var rep *GateReport
		var err error
		if s.interleaved {
			rep, err = GateAB(s.abRun(t, rng), GateOptions{})
		} else {
			b, n := s.sequentialRuns(t, rng)
			rep, err = Gate(b, n, GateOptions{})
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, row := range rep.Rows {
			count[row.Verdict]++
		}
	}
	return count
}

// TestGateAAWithDrift: 200 A/A comparisons (5% noise, the host losing
// 1% per measurement) call at most 5% of them a regression when the runs
// are interleaved, and the sequential design fails the same test: the
// drift lands on the new run.
func TestGateAAWithDrift(t *testing.T) {
	const trials = 200
	aa := abSim{rounds: 6, noise: 0.05, driftPerRun: -0.01, interleaved: true}
	got := aa.verdicts(t, trials, 1)
	t.Logf("interleaved A/A: %v", got)
	if got[VerdictRegression] > trials*5/100 {
		t.Errorf("interleaved A/A with drift: %d of %d REGRESSION, want <= 5%%", got[VerdictRegression], trials)
	}
	aa.interleaved = false
	seq := aa.verdicts(t, trials, 1)
	t.Logf("sequential A/A: %v", seq)
	if seq[VerdictRegression] <= trials*5/100 {
		t.Errorf("sequential A/A with drift: %d of %d REGRESSION; the drift should land on the new run and fail the 5%% bound", seq[VerdictRegression], trials)
	}
	// Drift alone (0.1% noise): interleaving cancels it in every pair of
	// rounds, so no A/A comparison is a regression; run sequentially, all
	// of them are.
	drift := abSim{rounds: 6, noise: 0.001, driftPerRun: -0.01, interleaved: true}
	if got := drift.verdicts(t, trials, 1); got[VerdictRegression] != 0 {
		t.Errorf("interleaved A/A, drift only: %v, want no REGRESSION", got)
	}
	drift.interleaved = false
	if got := drift.verdicts(t, trials, 1); got[VerdictRegression] != trials {
		t.Errorf("sequential A/A, drift only: %v, want every comparison a REGRESSION", got)
	}
	aa.driftPerRun = 0
	still := aa.verdicts(t, trials, 1)
	t.Logf("sequential A/A without drift: %v", still)
	if still[VerdictRegression] > trials*5/100 {
		t.Errorf("sequential A/A without drift: %d of %d REGRESSION, want <= 5%%", still[VerdictRegression], trials)
	}
}

// TestGatePower: a 10% regression at 6 rounds with 5% noise (and the
// drift) is called a REGRESSION in at least 80% of trials.
func TestGatePower(t *testing.T) {
	const trials = 200
	got := abSim{rounds: 6, noise: 0.05, driftPerRun: -0.01, harm: 0.10, interleaved: true}.verdicts(t, trials, 2)
	t.Logf("10%% regression, 6 rounds: %v", got)
	if got[VerdictRegression] < trials*80/100 {
		t.Errorf("%d of %d REGRESSION, want >= 80%%", got[VerdictRegression], trials)
	}
	if got[VerdictPass] > 0 {
		t.Errorf("%d of %d PASS a 10%% regression", got[VerdictPass], trials)
	}
}

// TestGateNeverPassesAtThreshold: a 5% regression at 5 rounds with 5%
// noise is never called PASS: such a run cannot tell 5% from nothing.
func TestGateNeverPassesAtThreshold(t *testing.T) {
	const trials = 200
	for _, interleaved := range []bool{true, false} {
		got := abSim{rounds: 5, noise: 0.05, harm: 0.05, interleaved: interleaved}.verdicts(t, trials, 3)
		t.Logf("5%% regression, 5 rounds, interleaved %v: %v", interleaved, got)
		if got[VerdictPass] > 0 {
			t.Errorf("interleaved %v: %d of %d PASS a 5%% regression at n = 5", interleaved, got[VerdictPass], trials)
		}
	}
}

// TestGatePassesWhenItCan: the gate is not a machine for INCONCLUSIVE: on
// a quiet host (1% noise) an A/A run of 8 rounds passes mostly.
func TestGatePassesWhenItCan(t *testing.T) {
	const trials = 100
	got := abSim{rounds: 8, noise: 0.01, interleaved: true}.verdicts(t, trials, 4)
	t.Logf("quiet A/A, 8 rounds: %v", got)
	if got[VerdictPass] < trials*80/100 || got[VerdictRegression] > 0 {
		t.Errorf("quiet A/A: %v, want >= 80%% PASS and no REGRESSION", got)
	}
}

// statusOf returns a function of Gate's results that checks that Err
// agrees with Status and returns the status.
func statusOf(t *testing.T) func(*GateReport, error) int {
	return func(rep *GateReport, err error) int {
		t.Helper()
		return gateStatus(t, rep, err)
	}
}

func gateStatus(t *testing.T, rep *GateReport, err error) int {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	status := rep.Status()
	gerr := rep.Err()
	var ge *GateError
	switch {
	case status == ExitPass && gerr != nil:
		t.Errorf("status 0 with error %v", gerr)
	case status != ExitPass && (!errors.As(gerr, &ge) || ge.ExitCode() != status || !errors.Is(gerr, ErrGate)):
		t.Errorf("status %d, error %v", status, gerr)
	}
	return status
}

// TestGateFailsClosed: missing data, another host or too few rounds
// never pass.
func TestGateFailsClosed(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 18))
	sim := abSim{rounds: 8, noise: 0.01, interleaved: true, pts: []string{"system=D", "system=K"}}
	ab := sim.abRun(t, rng)
	if got := statusOf(t)(GateAB(ab, GateOptions{})); got != ExitPass {
		t.Fatalf("quiet A/A: exit %d, want 0", got)
	}

	t.Run("dropped point", func(t *testing.T) {
		dropped := &Run{Dir: ab.Dir, Info: ab.Info}
		for _, rec := range ab.Records {
			if !strings.HasPrefix(rec.Point, "system=D/side=new") {
				dropped.Records = append(dropped.Records, rec)
			}
		}
		if got := statusOf(t)(GateAB(dropped, GateOptions{})); got != ExitIncomplete {
			t.Errorf("every D point of the new side dropped: exit %d, want %d", got, ExitIncomplete)
		}
		b, n := sim.sequentialRuns(t, rng)
		n.Records = SideRecords(dropped.Records, SideNew) // the same drop, two runs
		if got := statusOf(t)(Gate(b, n, GateOptions{})); got != ExitIncomplete {
			t.Errorf("separate runs, D dropped: exit %d, want %d", got, ExitIncomplete)
		}
	})
	t.Run("other kernel or host", func(t *testing.T) {
		for _, change := range []func(*Host){
			func(h *Host) { h.Kernel = "Linux 6.1.0 x86_64" },
			func(h *Host) { h.Hostname = "elsewhere" },
			func(h *Host) { h.CgroupMode = "v2" },
			func(h *Host) { h.ToolVersions = map[string]string{"fio": "fio-3.36"} },
		} {
			b, n := sim.sequentialRuns(t, rng)
			b.Info.Host.ToolVersions = map[string]string{"fio": "fio-3.33"}
			n.Info.Host.ToolVersions = map[string]string{"fio": "fio-3.33"}
			change(&n.Info.Host)
			rep, err := Gate(b, n, GateOptions{})
			if got := gateStatus(t, rep, err); got != ExitIncomparable {
				t.Errorf("%v: exit %d, want %d", rep.Incomparable, got, ExitIncomparable)
			}
			rep, err = Gate(b, n, GateOptions{AllowHostChange: true})
			if got := gateStatus(t, rep, err); got == ExitIncomparable {
				t.Errorf("%v with AllowHostChange: exit %d", rep.Incomparable, got)
			}
		}
		other := &Run{Dir: ab.Dir, Info: ab.Info, Records: ab.Records}
		info := *ab.Info.AB
		info.New.Host.Kernel = "Linux 6.1.0 x86_64"
		other.Info.AB = &info
		if got := statusOf(t)(GateAB(other, GateOptions{})); got != ExitIncomparable {
			t.Errorf("A/B sides on other kernels: exit %d, want %d", got, ExitIncomparable)
		}
	})
	t.Run("other config", func(t *testing.T) {
		b, n := sim.sequentialRuns(t, rng)
		b.Config = []byte("# Loaded from a.toml\nname = \"x\"\n[run]\nduration = \"5s\"\n")
		n.Config = []byte("# Loaded from b.toml\nname = \"x\"\n[run]\nduration = \"6s\"\n")
		rep, err := Gate(b, n, GateOptions{})
		if got := gateStatus(t, rep, err); got != ExitIncomparable || len(rep.Incomparable) != 1 || !strings.Contains(rep.Incomparable[0], "run.duration") {
			t.Errorf("config differs: exit %d, %v; want %d naming run.duration", got, rep.Incomparable, ExitIncomparable)
		}
		n.Config = []byte("# Loaded from b.toml\nname = \"x\"\n[run]\nduration = \"5s\"\n")
		rep, err = Gate(b, n, GateOptions{})
		if got := gateStatus(t, rep, err); got == ExitIncomparable {
			t.Errorf("same config, other comment: %v", rep.Incomparable)
		}
	})
	t.Run("base point failed", func(t *testing.T) {
		b, n := sim.sequentialRuns(t, rng)
		for i := range b.Records {
			if b.Records[i].Point == "system=D" {
				b.Records[i].OK, b.Records[i].Error = false, "agent crashed"
			}
		}
		rep, err := Gate(b, n, GateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Rows) != 1 || rep.Rows[0].Point != "system=K" || !slices.ContainsFunc(rep.Warnings, func(w string) bool {
			return strings.Contains(w, "system=D has no successful repetition in the base")
		}) {
			t.Errorf("rows %v, warnings %q: want K gated and D named", rep.Rows, rep.Warnings)
		}
	})
	t.Run("three rounds", func(t *testing.T) {
		three := abSim{rounds: 3, noise: 0.01, interleaved: true}
		if got := statusOf(t)(GateAB(three.abRun(t, rng), GateOptions{})); got != ExitFewSamples {
			t.Errorf("n = 3: exit %d, want %d", got, ExitFewSamples)
		}
		b, n := three.sequentialRuns(t, rng)
		if got := statusOf(t)(Gate(b, n, GateOptions{})); got != ExitFewSamples {
			t.Errorf("n = 3, separate runs: exit %d, want %d", got, ExitFewSamples)
		}
	})
	t.Run("regression", func(t *testing.T) {
		slow := abSim{rounds: 8, noise: 0.01, harm: 0.1, interleaved: true}
		if got := statusOf(t)(GateAB(slow.abRun(t, rng), GateOptions{})); got != ExitRegression {
			t.Errorf("10%% slower at 1%% noise: exit %d, want %d", got, ExitRegression)
		}
	})
	t.Run("noisy", func(t *testing.T) {
		noisy := abSim{rounds: 8, noise: 0.3, interleaved: true}
		rep, err := GateAB(noisy.abRun(t, rng), GateOptions{})
		if got := gateStatus(t, rep, err); got != ExitNoisy {
			t.Errorf("30%% noise: exit %d, want %d (%v)", got, ExitNoisy, rep.Rows[0])
		}
	})
}

func TestHolm(t *testing.T) {
	got := holm([]float64{0.01, 0.04, 0.03, math.NaN(), 0.005})
	want := []float64{0.03, 0.06, 0.06, math.NaN(), 0.02}
	for i := range want {
		if math.IsNaN(want[i]) != math.IsNaN(got[i]) || (!math.IsNaN(want[i]) && math.Abs(got[i]-want[i]) > 1e-12) {
			t.Errorf("holm[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

func TestChiSquareQuantile(t *testing.T) {
	for _, c := range []struct{ p, df, want float64 }{
		{0.05, 4, 0.7107}, {0.95, 10, 18.307}, {0.5, 1, 0.4549}, {0.05, 50, 34.764},
	} {
		if got := ChiSquareQuantile(c.p, c.df); math.Abs(got-c.want) > 1e-3*c.want {
			t.Errorf("ChiSquareQuantile(%g, %g) = %.4f, want %.4f", c.p, c.df, got, c.want)
		}
	}
}

// TestGateWarnsOfGuessedDirection: a metric nobody declared is gated in
// the direction its name suggests, and the report says so.
func TestGateWarnsOfGuessedDirection(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 18))
	run := abSim{rounds: 6, noise: 0.01, interleaved: true}.abRun(t, rng)
	for i := range run.Records {
		run.Records[i].Metrics[0].Name = "frobs_done"
	}
	rep, err := GateAB(run, GateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "frobs_done: no declared direction, guessed from its name: lower is better") {
		t.Errorf("warnings %q", rep.Warnings)
	}
}
