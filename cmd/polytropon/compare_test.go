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
