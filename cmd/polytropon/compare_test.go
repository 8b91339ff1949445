package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
	"polytropon/results"
)

// fixtureRuns are the run directories the results package's tests write
// (go test ./results -update regenerates them).
const fixtureRuns = "../../results/testdata/runs"

// checkGolden compares got with testdata/name (testenv.Golden).
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testenv.Golden(t, name, got)
}

func TestCompareCommand(t *testing.T) {
	for _, tc := range []struct {
		golden string
		args   []string
		status int
		stderr string
	}{
		{"compare-same.stdout", []string{"base", "same"}, results.ExitPass, ""},
		{"compare-slower.stdout", []string{"base", "slower"}, results.ExitRegression, "regression"},
		{"compare-slower-latency.stdout", []string{"-metric", "latency_p99_us", "-metric", "throughput_mbps", "base", "slower"}, results.ExitRegression, "regression"},
		{"compare-slower-lenient.stdout", []string{"-threshold", "0.3", "base", "slower"}, results.ExitPass, ""},
		{"compare-faster.stdout", []string{"-alpha", "0.01", "base", "faster"}, results.ExitInconclusive, "inconclusive"},
		{"compare-few.stdout", []string{"-min-rounds", "7", "base", "slower"}, results.ExitFewSamples, "too few samples"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			args := append([]string{"compare"}, tc.args...)
			n := len(args)
			args[n-2], args[n-1] = filepath.Join(fixtureRuns, args[n-2]), filepath.Join(fixtureRuns, args[n-1])
			var stdout, stderr bytes.Buffer
			status := run(&stdout, &stderr, args)
			if status != tc.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", status, tc.status, stderr.String())
			}
			checkGolden(t, tc.golden, stdout.Bytes())
			if !strings.Contains(stderr.String(), tc.stderr) {
				t.Errorf("stderr does not say %q:\n%s", tc.stderr, stderr.String())
			}
		})
	}
}

func TestCompareCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"compare"},
		{"compare", "-no-such-flag", filepath.Join(fixtureRuns, "base"), filepath.Join(fixtureRuns, "same")},
		{"compare", filepath.Join(fixtureRuns, "base"), t.TempDir()},
		{"compare", "-metric", "no_such_metric", filepath.Join(fixtureRuns, "base"), filepath.Join(fixtureRuns, "same")},
		{"compare", filepath.Join(fixtureRuns, "base")}, // not an A/B run
	} {
		var stdout, stderr bytes.Buffer
		if status := run(&stdout, &stderr, args); status != results.ExitUsage || stderr.Len() == 0 {
			t.Errorf("%v: exit status %d with stderr %q, want %d with a message", args, status, stderr.String(), results.ExitUsage)
		}
	}
}

// writeABRun stores an A/B run of six rounds: D 10% slower on the new
// side, K unchanged, 1% noise.
func writeABRun(t *testing.T) string {
	t.Helper()
	run, err := results.Create(t.TempDir(), "ab-fixture")
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close()
	host := results.Host{Hostname: "fixture", Kernel: "Linux 6.18.0 x86_64", CgroupMode: "hybrid", Cores: 2}
	info := results.Info{Experiment: "fixture", MainMetric: results.MetricThroughput, Host: host,
		AB: &results.ABInfo{Base: results.ABSide{Spec: "main", Host: host}, New: results.ABSide{Spec: "slow", Host: host}, Rounds: 6}}
	noise := []float64{0.004, -0.011, 0.008, 0.0, -0.006, 0.012, -0.003, 0.009, -0.01, 0.005, 0.001, -0.008}
	i := 0
	for r := range 6 {
		info.AB.Order = append(info.AB.Order, map[bool]string{true: "AB", false: "BA"}[r%2 == 0])
		for _, side := range []string{results.SideBase, results.SideNew} {
			for _, sys := range []string{"D", "K"} {
				v := 100 * (1 + noise[i%len(noise)])
				i++
				if sys == "D" && side == results.SideNew {
					v *= 0.9
				}
				rec := results.Record{Kind: results.KindRepetition, Point: "system=" + sys, Params: []results.Param{{Key: "system", Value: sys}}, OK: true,
					Metrics: []results.Metric{{Name: results.MetricThroughput, Unit: "MB/s", Value: v}}}
				if err := run.Append(results.SideRecord(rec, side, r)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if err := run.WriteConfig([]byte("name = \"fixture\"\n")); err != nil {
		t.Fatal(err)
	}
	if err := run.WriteInfo(info); err != nil {
		t.Fatal(err)
	}
	if _, err := run.Finish(); err != nil {
		t.Fatal(err)
	}
	return run.Dir
}

func TestCompareABRun(t *testing.T) {
	dir := writeABRun(t)
	var stdout, stderr bytes.Buffer
	if status := run(&stdout, &stderr, []string{"compare", dir}); status != results.ExitRegression {
		t.Fatalf("compare AB-RUN: exit %d, want %d; stderr:\n%s", status, results.ExitRegression, stderr.String())
	}
	for _, want := range []string{"design: interleaved A/B rounds, paired", "base (main)", "new (slow)", "system=D  6 pairs", "-9.5%", "REGRESSION", "system=K  6 pairs", "PASS", "verdict: REGRESSION (exit 10)"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, stdout.String())
		}
	}
	stdout.Reset()
	stderr.Reset()
	if status := run(&stdout, &stderr, []string{"compare", dir, dir}); status != results.ExitUsage || !strings.Contains(stderr.String(), "is an A/B run") {
		t.Errorf("compare AB AB: exit %d, stderr %q; want %d saying to gate it alone", status, stderr.String(), results.ExitUsage)
	}
}
