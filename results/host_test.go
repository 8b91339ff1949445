package results

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// TestCollectHostToolVersions: without versions from the caller, the
// provenance records those of the tools found on this host (tool ->
// version line, a plain map that compare can read), and leaves out the
// tools that are not installed; host.json carries them with the build.
func TestCollectHostToolVersions(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stress-ng"), []byte("#!/bin/sh\necho 'stress-ng, version 9.9'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	h := CollectHost(t.Context(), HostOptions{})
	if got := h.ToolVersions["stress-ng"]; got != "stress-ng, version 9.9" {
		t.Errorf("stress-ng version %q, want the line it prints", got)
	}
	if v, ok := h.ToolVersions["db_bench"]; ok {
		t.Errorf("db_bench recorded (%q) but not installed", v)
	}
	if h.GoVersion != runtime.Version() {
		t.Errorf("go version %q, want %q", h.GoVersion, runtime.Version())
	}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	tv, _ := back["tool_versions"].(map[string]any)
	if tv["stress-ng"] != "stress-ng, version 9.9" {
		t.Errorf("host.json tool_versions = %v, want a plain map of tool to version", back["tool_versions"])
	}
	// The caller's versions are kept as given.
	if h := CollectHost(t.Context(), HostOptions{ToolVersions: map[string]string{"fio": "fio-3.33"}}); len(h.ToolVersions) != 1 || h.ToolVersions["fio"] != "fio-3.33" {
		t.Errorf("given versions replaced: %v", h.ToolVersions)
	}
}
