package union_test

import (
	"os"
	"testing"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// newLocal returns a Local service over dir.
func newLocal(t testing.TB, dir string, opts ...local.Option) *local.Local {
	t.Helper()
	s, err := local.New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newLower returns a read-only Local service over dir: a union that tried
// to write to a lower branch would fail with EROFS.
func newLower(t testing.TB, dir string) *local.Local { return newLocal(t, dir, local.WithReadOnly()) }

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// unionFactory builds unions of n branches over fresh local directories.
// The suite expects an empty service, so the lower branches start empty;
// the lookups still cross every branch, and the tests of this package cover
// lower content. Lower directories are checked unchanged at the end.
func unionFactory(n int) func(t *testing.T) fs.Service {
	return func(t *testing.T) fs.Service {
		brs := []fs.Service{newLocal(t, t.TempDir())}
		var lowers []string
		for i := 1; i < n; i++ {
			dir := t.TempDir()
			lowers = append(lowers, dir)
			brs = append(brs, newLower(t, dir))
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

// suiteOptions declares what this host cannot do.
func suiteOptions() []fstest.Option {
	if os.Geteuid() != 0 {
		return []fstest.Option{fstest.NoChown()}
	}
	return nil
}

func TestConformance1Branch(t *testing.T)   { fstest.Run(t, unionFactory(1), suiteOptions()...) }
func TestConformance2Branches(t *testing.T) { fstest.Run(t, unionFactory(2), suiteOptions()...) }
func TestConformance3Branches(t *testing.T) { fstest.Run(t, unionFactory(3), suiteOptions()...) }

// TestConformanceSharedLower runs the suite on unions that share their lower
// branch services (one per stack depth) with each other, in parallel.
func TestConformanceSharedLower(t *testing.T) {
	for _, n := range []int{2, 3} {
		t.Run(string(rune('0'+n))+"branches", func(t *testing.T) {
			var lowers []fs.Service
			for i := 1; i < n; i++ {
				dir := t.TempDir()
				checkTreeUnchanged(t, dir)
				lowers = append(lowers, newLower(t, dir))
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
					fstest.Run(t, factory, suiteOptions()...)
				})
			}
		})
	}
}
