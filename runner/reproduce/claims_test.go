package reproduce

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"polytropon/results"
	"polytropon/runner/config"
)

// TestCheckedInClaims: the papers' claims load, and every claim's metric
// is one its experiment (and the experiment's Ceph variant) produces at
// every scale.
func TestCheckedInClaims(t *testing.T) {
	t.Setenv("CEPH_CONF", "/etc/ceph/ceph.conf")
	claims, err := LoadClaims(filepath.Join("../../experiments", ClaimsFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(claims) < 40 {
		t.Errorf("%d claims, want every figure's (40 or more)", len(claims))
	}
	var missing []string
	for _, c := range claims {
		for _, name := range []string{c.Experiment, c.Experiment + "-ceph"} {
			f := filepath.Join("../../experiments", name+".toml")
			if !exists(f) {
				if name == c.Experiment {
					missing = append(missing, name)
				}
				continue
			}
			for _, scale := range config.ScaleNames {
				e, err := config.LoadScale(f, scale)
				if err != nil {
					t.Fatalf("%s at %s: %v", f, scale, err)
				}
				for _, m := range c.Metrics() {
					if msg := e.MetricProblem(m); msg != "" {
						t.Errorf("claim %s: %s at %s: %s", c.ID, name, scale, msg)
					}
				}
			}
		}
	}
	// The isolation files of 7 FLS, 6b and 6c come with their own issue; until
	// their files are in the tree the report names them as missing.
	for _, m := range missing {
		if !strings.HasPrefix(m, "fig6a-isolation-randomio-7fls") && !strings.HasPrefix(m, "fig6b-") && !strings.HasPrefix(m, "fig6c-") {
			t.Errorf("claims of %s, which has no experiment file", m)
		}
	}
}

func TestBadClaims(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"unknown key", "[[claim]]\nid = \"a\"\nfigure = \"F\"\ntext = \"t\"\nexperiment = \"e\"\nmetric = \"m\"\npaper = 2.0\nnumerator = { system = \"D\" }\ndenominator = { system = \"K\" }\npapper = 1\n", `unknown key "claim.papper"`},
		{"no ratio", "[[claim]]\nid = \"a\"\nfigure = \"F\"\ntext = \"t\"\nexperiment = \"e\"\nmetric = \"m\"\nnumerator = { system = \"D\" }\ndenominator = { system = \"K\" }\n", `claim[0] "a": paper = 0`},
		{"duplicate", "[[claim]]\nid = \"a\"\n[[claim]]\nid = \"a\"\n", "id used twice"},
		{"no sides", "[[claim]]\nid = \"a\"\nfigure = \"F\"\ntext = \"t\"\nexperiment = \"e\"\nmetric = \"m\"\npaper = 2.0\n", "numerator and denominator"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.toml")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := LoadClaims(path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestSelect(t *testing.T) {
	claims := []Claim{{ID: "a", Figure: "Fig 7a", Experiment: "fig7a-x"}, {ID: "b", Figure: "Fig 9", Experiment: "fig9-y"}, {ID: "c", Figure: "Justitia re-read", Experiment: "justitia-reread"}}
	for names, want := range map[string]string{"7a": "a", "Fig 9": "b", "fig9-y": "b", "justitia-reread": "c", "7a,c": "a c", "": "a b c"} {
		var ns []string
		if names != "" {
			ns = strings.Split(names, ",")
		}
		got, err := Select(claims, ns)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.ID)
		}
		if strings.Join(ids, " ") != want {
			t.Errorf("Select(%q) = %v, want %s", names, ids, want)
		}
	}
	if _, err := Select(claims, []string{"12"}); err == nil || !strings.Contains(err.Error(), "Fig 7a, Fig 9") {
		t.Errorf("unknown figure: %v", err)
	}
}

// table builds a summary from repetition values: point params and the
// metric's per-repetition values.
func table(t *testing.T, pts []struct {
	params []results.Param
	vals   []float64
}, skipped ...results.Param) *results.Table {
	t.Helper()
	var recs []results.Record
	for _, p := range pts {
		name := results.PointName(p.params)
		for i, v := range p.vals {
			recs = append(recs,
				results.Record{Kind: results.KindInstance, Point: name, Params: p.params, Repetition: i + 1, Workload: "w", Role: "main",
					Result: &results.InstanceResult{Ops: 1, Bytes: int64(v * 1e6), Elapsed: time.Second}},
				results.Record{Kind: results.KindRepetition, Point: name, Params: p.params, Repetition: i + 1, OK: true,
					Metrics: []results.Metric{{Pool: "p0", Name: "lock_wait_seconds", Unit: "s", Value: v, Labels: map[string]string{"backend": "ftrace"}}}})
		}
	}
	if len(skipped) > 0 {
		recs = append(recs, results.Record{Kind: results.KindSkipped, Point: results.PointName(skipped), Params: skipped, Reason: "systems: not available on this host: K-ceph"})
	}
	return results.BuildTable(recs, nil)
}

type pt = struct {
	params []results.Param
	vals   []float64
}

func ps(system string, pools int64) []results.Param {
	return []results.Param{{Key: "system", Value: system}, {Key: "pools", Value: pools}}
}

func TestEvaluate(t *testing.T) {
	tab := table(t, []pt{
		{ps("D", 1), []float64{100, 104, 96}}, {ps("K", 1), []float64{50, 52, 48}},
		{ps("D", 4), []float64{200, 210, 190}}, {ps("K", 4), []float64{400, 420, 380}},
		{ps("F", 4), []float64{100}},
	})
	dk := Claim{ID: "x", Metric: results.MetricThroughput, Numerator: map[string]any{"system": "D"}, Denominator: map[string]any{"system": "K"}, Paper: 3}
	for _, tc := range []struct {
		where   any
		paper   float64
		ratio   float64
		verdict string
	}{
		{int64(1), 3, 2, Same},
		{"min", 3, 2, Same},
		{"max", 3, 0.5, Opposite},
		{"max", 0.3, 0.5, Same},
		{int64(4), 0.7, 0.5, Same},
	} {
		c := dk
		c.Where, c.Paper = map[string]any{"pools": tc.where}, tc.paper
		res := Evaluate(c, tab, false)
		if math.Abs(res.Ours-tc.ratio) > 1e-9 || res.Verdict != tc.verdict || res.N != [2]int{3, 3} {
			t.Errorf("pools=%v paper %g: ours %g [%g, %g] %s (%s), want %g %s", tc.where, tc.paper, res.Ours, res.Low, res.High, res.Verdict, res.Why, tc.ratio, tc.verdict)
		}
		if !(res.Low < res.Ours && res.Ours < res.High) {
			t.Errorf("pools=%v: CI [%g, %g] does not hold %g", tc.where, res.Low, res.High, res.Ours)
		}
	}
	// One repetition: a ratio but no interval.
	c := dk
	c.Numerator, c.Where = map[string]any{"system": "F"}, map[string]any{"pools": "max"}
	if res := Evaluate(c, tab, false); res.Verdict != Inconclusive || res.Ours != 0.25 || !math.IsNaN(res.Low) || !strings.Contains(res.Why, "n=1+3") {
		t.Errorf("n=1: %+v", res)
	}
	// Both pool counts match: the claim must say which.
	c = dk
	if res := Evaluate(c, tab, false); res.Verdict != Inconclusive || !strings.Contains(res.Why, "2 points match") {
		t.Errorf("ambiguous: %+v", res)
	}
	// A metric without its one-per-run label; a metric never produced.
	c.Where, c.Metric = map[string]any{"pools": int64(1)}, "lock_wait_seconds"
	if res := Evaluate(c, tab, false); res.Verdict != Same || math.Abs(res.Ours-2) > 1e-9 {
		t.Errorf("lock_wait_seconds: %+v", res)
	}
	c.Metric = "cpu_seconds"
	if res := Evaluate(c, tab, false); res.Verdict != Inconclusive || !strings.Contains(res.Why, "no values") {
		t.Errorf("missing metric: %+v", res)
	}
	// F/K has no local form; a Ceph point that was skipped says why.
	c = dk
	c.Denominator, c.Where = map[string]any{"system": "F/K"}, map[string]any{"pools": int64(1)}
	if res := Evaluate(c, tab, false); !strings.Contains(res.Why, "no local form") {
		t.Errorf("F/K locally: %+v", res)
	}
	ceph := table(t, []pt{{ps("D-ceph", 1), []float64{1, 2}}}, ps("K-ceph", 1)...)
	c = dk
	if res := Evaluate(c, ceph, true); res.Verdict != Inconclusive || !strings.Contains(res.Why, "not available on this host") {
		t.Errorf("skipped K-ceph: %+v", res)
	}
}

// TestReport: both forms hold every claim with its verdict, the host
// and commit; the HTML page embeds its figure.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	png := filepath.Join(dir, "run", "plots", "f.png")
	if err := os.MkdirAll(filepath.Dir(png), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(png, []byte("\x89PNG fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := &Report{Scale: "smoke", Generated: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Wall: 90 * time.Second,
		Host: results.Host{Hostname: "h", Cores: 2, GitCommit: "abc123"},
		Results: []Result{
			{Claim: Claim{ID: "c1", Figure: "Fig 7a", Text: "D | faster", Paper: 5.9}, Experiment: "fig7a", Ours: 2, Low: 1.5, High: 2.5, N: [2]int{3, 3}, Verdict: Same, Plot: png},
			{Claim: Claim{ID: "c2", Figure: "Fig 9", Text: "K slower", Paper: 2.8}, Experiment: "fig9", Ours: math.NaN(), Low: math.NaN(), High: math.NaN(), Verdict: Inconclusive, Why: "not measured"},
		},
		Experiments: []*ExperimentRun{{Name: "fig7a", Dir: filepath.Join(dir, "run"), Points: 3},
			{Name: "fig7a-ceph", NeedsHost: true, Err: errNoCluster.Error()}}}
	paths, err := rep.Write(dir)
	if err != nil || len(paths) != 2 {
		t.Fatal(paths, err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, want := range []string{"| Fig 7a | D \\| faster | fig7a | 5.9 | 2 [1.5, 2.5] | 3+3 | same direction |", "| Fig 9 | K slower | fig9 | 2.8 | – | 0+0 | inconclusive |",
		"commit abc123", "![c1](run/plots/f.png)", "2 claims checked: 1 same direction, 0 opposite, 1 inconclusive", "polytropon reproduce -scale smoke",
		"Covered here (measured on this host): fig7a. Not covered: fig7a-ceph, the Ceph variants"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	for _, want := range []string{`src="data:image/png;base64,iVBORyBmYWtl"`, "commit abc123", `<tr class="same-direction"><td>Fig 7a</td><td>D | faster</td>`,
		"Not covered: fig7a-ceph, the Ceph variants"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("html lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(string(page), png) {
		t.Errorf("html names its figure's file instead of embedding it")
	}
	// Published into the tree: the figures travel with the report.
	doc := filepath.Join(dir, "docs", "reproduction.md")
	if err := os.MkdirAll(filepath.Dir(doc), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := rep.Publish(doc); err != nil {
		t.Fatal(err)
	}
	pub, _ := os.ReadFile(doc)
	if !strings.Contains(string(pub), "![c1](reproduction/fig7a-f.png)") {
		t.Errorf("published report does not show its copied figure:\n%s", pub)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "docs", "reproduction", "fig7a-f.png")); err != nil || string(b) != "\x89PNG fake" {
		t.Errorf("figure not copied: %q %v", b, err)
	}
}

// TestPlan: the plan of a figure names its local file with the points
// this host can run, its repetitions and an estimate, its Ceph variant as
// not run without a cluster, and a total.
func TestPlan(t *testing.T) {
	t.Setenv("CEPH_CONF", "")
	var b strings.Builder
	err := Plan(context.Background(), &b, Options{Dir: "../../experiments", Out: t.TempDir(), Scale: config.ScaleHost, Figures: []string{"8"}})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	local := regexp.MustCompile(`(?m)^  fig8-lighttpd-startup +\d+ points x 3\.\.3 repetitions x ~\d+s: \S+`)
	ceph := regexp.MustCompile(`(?m)^  fig8-lighttpd-startup-ceph +not run: needs a Ceph cluster`)
	total := regexp.MustCompile(`(?m)^total \S+ \(minimum repetitions\) \.\. \S+ \(maximum\)$`)
	for _, re := range []*regexp.Regexp{local, ceph, total} {
		if !re.MatchString(out) {
			t.Errorf("plan lacks %v:\n%s", re, out)
		}
	}
}

// TestReportKeptRunsWall: a report over runs kept from an earlier
// reproduction says how long the runs took, not only the moment this
// reproduction spent, and each run's commit.
func TestReportKeptRunsWall(t *testing.T) {
	dir := t.TempDir()
	rep := &Report{Scale: "host", Generated: time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC), Wall: 8*time.Minute + 5*time.Second,
		Host: results.Host{Hostname: "h", Cores: 2, GitCommit: "abc123"},
		Experiments: []*ExperimentRun{
			{Name: "fig6a", Dir: filepath.Join(dir, "a"), Resumed: true, Points: 6, Wall: 50 * time.Minute, Commit: "2dbf462b4ff9 (dirty)"},
			{Name: "fig7a", Dir: filepath.Join(dir, "b"), Points: 6, Wall: 8 * time.Minute, Commit: "a7290f3aaaaa"}}}
	if _, err := rep.Write(dir); err != nil {
		t.Fatal(err)
	}
	md, _ := os.ReadFile(filepath.Join(dir, MarkdownFile))
	page, _ := os.ReadFile(filepath.Join(dir, HTMLFile))
	for _, want := range []string{"wall time of the runs 58m0s, of this reproduction 8m5s",
		"| fig6a | a (kept) | 2dbf462b4ff9 (dirty) | 6 | 0 | 0 | 50m0s |", "| fig7a | b | a7290f3aaaaa | 6 | 0 | 0 | 8m0s |"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(string(page), "wall time of the runs 58m0s") || !strings.Contains(string(page), "<td>2dbf462b4ff9 (dirty)</td>") {
		t.Errorf("HTML lacks the runs' wall time or a run's commit:\n%s", page)
	}
	// Without kept runs the line is the reproduction's own.
	rep.Experiments = rep.Experiments[1:]
	if got := rep.wallLine(); got != "wall time 8m5s" {
		t.Errorf("wallLine without kept runs = %q", got)
	}
}
