package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestServeStatusFlags: -status reports (here: no orphan under a key no
// segment uses) instead of serving; -remove needs -status. The orphans
// themselves: fs/service TestOrphansAfterKill.
func TestServeStatusFlags(t *testing.T) {
	var out bytes.Buffer
	if err := runServe(&out, io.Discard, []string{"-status", "-key", "1234567891"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "no orphans") {
		t.Errorf("serve -status: %q", out.String())
	}
	if err := runServe(io.Discard, io.Discard, []string{"-remove", "-key", "1234567891"}); err == nil || !strings.Contains(err.Error(), "-status") {
		t.Errorf("serve -remove without -status: %v", err)
	}
}
