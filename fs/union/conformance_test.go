package union_test

import (
	"os"
	"path/filepath"
	"testing"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// newLocal returns a Local service over dir.
func newLocal(t testing.TB, dir string) *local.Local {
	t.Helper()
	s, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// seedLower fills a lower branch directory with a small tree. The
// conformance suite expects an empty service, so only the union-specific
// tests seed their lower branches.
func seedLower(t testing.TB, dir string, tag string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Join(dir, "lower-"+tag, "sub"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "lower-"+tag, "sub", "f"), []byte("lower "+tag), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "lowerfile-"+tag), []byte(tag), 0o644))
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// unionFactory builds unions of n branches over fresh local directories; the
// lower ones are seeded and never written.
func unionFactory(n int) func(t *testing.T) fs.Service {
	return func(t *testing.T) fs.Service {
		brs := []fs.Service{newLocal(t, t.TempDir())}
		var lowers []string
		for i := 1; i < n; i++ {
			dir := t.TempDir()
			lowers = append(lowers, dir)
			brs = append(brs, newLocal(t, dir))
		}
		u, err := union.New(brs)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { u.Close() })
		for _, d := range lowers {
			checkTreeUnchanged(t, d)
		}
		return u
	}
}

func TestConformance1Branch(t *testing.T)  { fstest.Run(t, unionFactory(1)) }
func TestConformance2Branches(t *testing.T) { fstest.Run(t, unionFactory(2)) }
func TestConformance3Branches(t *testing.T) { fstest.Run(t, unionFactory(3)) }

// TestConformanceSharedLower runs the suite on unions that share their lower
// branch services (one per stack depth) with each other, in parallel.
func TestConformanceSharedLower(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(string(rune('0'+n))+"branches", func(t *testing.T) {
			var lowers []fs.Service
			for i := 1; i < n; i++ {
				dir := t.TempDir()
				checkTreeUnchanged(t, dir)
				lowers = append(lowers, newLocal(t, dir))
			}
			factory := func(t *testing.T) fs.Service {
				u, err := union.New(append([]fs.Service{newLocal(t, t.TempDir())}, lowers...))
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			for i := range 3 {
				t.Run("union"+string(rune('0'+i)), func(t *testing.T) {
					t.Parallel()
					fstest.Run(t, factory)
				})
			}
		})
	}
}
