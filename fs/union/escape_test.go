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
