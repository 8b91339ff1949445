package testenv

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Update is the -update flag of every test binary that imports testenv:
// golden files (and fixtures derived from them) are rewritten instead of
// compared.
var Update = flag.Bool("update", false, "rewrite golden files and fixtures in testdata/ instead of comparing")

// Golden compares got with the golden file testdata/name, or rewrites it
// under -update. On a mismatch got is written beside it as name with
// ".got-" before its extension (git-ignored), so the two can be diffed.
func Golden(tb testing.TB, name string, got []byte) {
	tb.Helper()
	path := filepath.Join("testdata", name)
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		ext := filepath.Ext(name)
		gotPath := filepath.Join("testdata", strings.TrimSuffix(name, ext)+".got-"+strings.TrimPrefix(ext, "."))
		_ = os.WriteFile(gotPath, got, 0o644)
		tb.Errorf("%s differs from the golden file; got output in %s (diff them; -update accepts it)", path, gotPath)
	}
}
