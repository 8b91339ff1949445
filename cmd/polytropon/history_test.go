package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/results"
)

func TestHistoryCommand(t *testing.T) {
	plots := t.TempDir()
	var stdout, stderr bytes.Buffer
	if status := run(&stdout, &stderr, []string{"history", "-plots", plots, fixtureRuns}); status != 0 {
		t.Fatalf("history: exit %d; stderr:\n%s", status, stderr.String())
	}
	for _, want := range []string{"fixture  system=D/pools=1", "throughput_mbps", "over 4 runs"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("history output lacks %q:\n%s", want, stdout.String())
		}
	}
	if _, err := os.Stat(filepath.Join(plots, "history-throughput_mbps.svg")); err != nil {
		t.Error(err)
	}
	stdout.Reset()
	if status := run(&stdout, &stderr, []string{"history", t.TempDir()}); status != results.ExitUsage {
		t.Errorf("history of an empty directory: exit %d, want %d", status, results.ExitUsage)
	}
}
