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

// TestDiffersRunsItsCheck: the case a Differs names runs the given check
// in place of its own.
func TestDiffersRunsItsCheck(t *testing.T) {
	var checked []string
	fstest.Run(t, func(t *testing.T) fs.Service {
		if path.Base(t.Name()) != "fallocate" {
			t.SkipNow()
		}
		return nil
	}, fstest.Differs("fallocate", "a test of the option", func(t *testing.T, _ fs.Service) {
		checked = append(checked, path.Base(t.Name()))
	}))
	if !slices.Equal(checked, []string{"fallocate"}) {
		t.Errorf("checks ran in %v, want only in fallocate", checked)
	}
}
