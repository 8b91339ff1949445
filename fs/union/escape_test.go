package union_test

import (
	"os"
	"path/filepath"
	"testing"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/union"
)

// TestEscape runs the path-escape suite on a union of two local branches
// whose roots sit next to the outside directory; the lower branch also holds
// links that point out of its root.
func TestEscape(t *testing.T) {
	fstest.RunEscape(t, func(t *testing.T) (fs.Service, string) {
		base := t.TempDir()
		upper := filepath.Join(base, "a", "b", "upper")
		lower := filepath.Join(base, "a", "b", "lower")
		outside := filepath.Join(base, "outside")
		for _, d := range []string{upper, lower, outside} {
			must(t, os.MkdirAll(d, 0o755))
		}
		must(t, os.Symlink("../../../outside/secret", filepath.Join(lower, "lowerlink")))
		must(t, os.Symlink("/../outside", filepath.Join(lower, "lowerabs")))
		u, err := union.New([]fs.Service{newLocal(t, upper), newLower(t, lower)})
		must(t, err)
		return u, outside
	})
}

// TestLowerLinksStayInside follows links planted in a lower branch that
// point out of it: they resolve inside the union root, where nothing named
// outside exists.
func TestLowerLinksStayInside(t *testing.T) {
	base := t.TempDir()
	upper, lower, outside := filepath.Join(base, "u"), filepath.Join(base, "l"), filepath.Join(base, "outside")
	for _, d := range []string{upper, lower, outside} {
		must(t, os.MkdirAll(d, 0o755))
	}
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(t, os.Symlink("../outside/secret", filepath.Join(lower, "rel")))
	must(t, os.Symlink("/../../outside/secret", filepath.Join(lower, "abs")))
	must(t, os.Symlink("../outside", filepath.Join(lower, "dirlink")))
	u, err := union.New([]fs.Service{newLocal(t, upper), newLower(t, lower)})
	must(t, err)
	for _, name := range []string{"rel", "abs", "dirlink/secret"} {
		f, err := u.Open(t.Context(), name, os.O_RDONLY, 0)
		if err == nil {
			f.Close()
			t.Errorf("open %s reached a file: the secret is outside the union", name)
		}
		for _, flags := range []int{os.O_WRONLY | os.O_CREATE} {
			if f, err := u.Open(t.Context(), name, flags, 0o644); err == nil {
				f.Close()
			}
		}
	}
	if got, _ := os.ReadFile(filepath.Join(outside, "secret")); string(got) != "secret" {
		t.Errorf("outside secret changed: %q", got)
	}
	if ents, _ := os.ReadDir(outside); len(ents) != 1 {
		t.Errorf("outside gained entries: %v", ents)
	}
}
