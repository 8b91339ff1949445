package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlotCommand(t *testing.T) {
	// Redraw a copy of a fixture run (plots are written into the run).
	dir := filepath.Join(t.TempDir(), "run")
	if out, err := exec.Command("cp", "-r", filepath.Join(fixtureRuns, "base"), dir).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	var stdout, stderr bytes.Buffer
	if status := run(&stdout, &stderr, []string{"plot", "-table", dir}); status != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", status, stderr.String())
	}
	for _, ext := range []string{".png", ".svg"} {
		f := filepath.Join(dir, "plots", "fixture-scaleout"+ext)
		st, err := os.Stat(f)
		if err != nil || st.Size() < 1000 {
			t.Errorf("plot %s not drawn: %v", f, err)
		}
		if !strings.Contains(stdout.String(), f) {
			t.Errorf("stdout does not list %s:\n%s", f, stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), "system=K_K/pools=4  throughput_mbps") {
		t.Errorf("-table did not print the summary:\n%s", stdout.String())
	}
	if status := run(&stdout, &stderr, []string{"plot", t.TempDir()}); status == 0 {
		t.Errorf("plot of an empty directory succeeded")
	}
}
