package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
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
	}{
		{"compare-same.stdout", []string{"base", "same"}, 0},
		{"compare-slower.stdout", []string{"base", "slower"}, 1},
		{"compare-slower-latency.stdout", []string{"-metric", "latency_p99_us", "-metric", "throughput_mbps", "-test", "welch", "base", "slower"}, 1},
		{"compare-slower-lenient.stdout", []string{"-threshold", "0.3", "base", "slower"}, 0},
		{"compare-faster.stdout", []string{"-alpha", "0.01", "base", "faster"}, 0},
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
			if tc.status != 0 && !strings.Contains(stderr.String(), "significant regression") {
				t.Errorf("stderr does not name the regression:\n%s", stderr.String())
			}
		})
	}
}

func TestCompareCommandErrors(t *testing.T) {
	for _, args := range [][]string{
		{"compare", filepath.Join(fixtureRuns, "base")},
		{"compare", filepath.Join(fixtureRuns, "base"), t.TempDir()},
		{"compare", "-metric", "no_such_metric", filepath.Join(fixtureRuns, "base"), filepath.Join(fixtureRuns, "same")},
		{"compare", "-test", "ks", filepath.Join(fixtureRuns, "base"), filepath.Join(fixtureRuns, "same")},
	} {
		var stdout, stderr bytes.Buffer
		if status := run(&stdout, &stderr, args); status == 0 || stderr.Len() == 0 {
			t.Errorf("%v: exit status %d with stderr %q, want a failure with a message", args, status, stderr.String())
		}
	}
}
