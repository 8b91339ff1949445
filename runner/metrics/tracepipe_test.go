package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
)

// TestTracePipeDropsRatherThanOverwrites: a full instance drops new events
// (and dropped counts them) instead of overwriting the oldest under a
// reader, which soft-locked the guest's emulated CPU.
func TestTracePipeDropsRatherThanOverwrites(t *testing.T) {
	testenv.RequireRoot(t, "tracefs")
	if err := ensureTracefs(); err != nil {
		testenv.Unavailable(t, "tracefs: "+err.Error())
	}
	p, err := openTracePipe("test-", "sched/sched_switch")
	if err != nil {
		t.Fatal(err)
	}
	defer p.cleanup()
	if b, err := os.ReadFile(filepath.Join(p.dir, "options", "overwrite")); err != nil || strings.TrimSpace(string(b)) != "0" {
		t.Fatalf("options/overwrite = (%q, %v), want 0", b, err)
	}
	// The smallest buffer, filled by markers that nobody reads.
	if err := os.WriteFile(filepath.Join(p.dir, "buffer_size_kb"), []byte("4"), 0); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(p.dir, "trace_marker"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 2000 {
		f.WriteString(strings.Repeat("x", 100)) // fails once the buffer is full
	}
	if n := p.dropped(); n == 0 {
		t.Error("dropped = 0 after filling a 4 KiB buffer with 200 KB of markers")
	}
}
