package fstest_test

import (
	"path"
	"slices"
	"testing"

	"polytropon/fs"
	"polytropon/fs/fstest"
)

// TestCasesNameRunsSubtests: Cases lists exactly the subtests Run starts,
// in its order (a factory that records its case and skips it sees them).
func TestCasesNameRunsSubtests(t *testing.T) {
	var ran []string
	fstest.Run(t, func(t *testing.T) fs.Service {
		ran = append(ran, path.Base(t.Name()))
		t.SkipNow()
		return nil
	})
	if want := fstest.Cases(); !slices.Equal(ran, want) || len(want) == 0 {
		t.Errorf("Run started %d subtests %v,\nCases lists %d: %v", len(ran), ran, len(want), want)
	}
}
