package cachebench_test

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"polytropon/runner/cachebench"
)

// TestClonesCacheOnce: through D's stacks (client cache below the unions)
// three clones hold the image's pages once, as one clone does; private
// caches above each union hold them three times.
func TestClonesCacheOnce(t *testing.T) {
	rows, err := cachebench.Clones(t.Context(), cachebench.ClonesConfig{Counts: []int{1, 3}, ImageSize: 2 << 20, WorkDir: t.TempDir()}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]map[int]int{}
	for _, r := range rows {
		if pages[r.Placement] == nil {
			pages[r.Placement] = map[int]int{}
		}
		pages[r.Placement][r.Clones] = r.CachePages
	}
	const image = 32 // 2 MiB of 64 KiB pages
	if c := pages["client"]; c[1] < image || c[3] != c[1] {
		t.Errorf("client cache: %d pages for 1 clone, %d for 3; want >= %d and the same", c[1], c[3], image)
	}
	if a := pages["above-union"]; a[1] < image || a[3] != 3*a[1] {
		t.Errorf("caches above the unions: %d pages for 1 clone, %d for 3; want >= %d and three times", a[1], a[3], image)
	}
	var out bytes.Buffer
	if err := cachebench.WriteClones(&out, rows); err != nil || strings.Count(out.String(), "\n") != 1+len(rows) {
		t.Errorf("table (%v):\n%s", err, out.String())
	}
	if _, err := cachebench.Clones(t.Context(), cachebench.ClonesConfig{Counts: []int{0}, ImageSize: 1}, io.Discard); err == nil {
		t.Error("clone count 0 accepted")
	}
}
