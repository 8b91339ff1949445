package systems

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// imageLower makes a lower directory for a union system: the shared image,
// holding image.txt ("base\n") that checkContainers reads.
func imageLower(t *testing.T) string {
	t.Helper()
	lower := t.TempDir()
	if err := os.WriteFile(filepath.Join(lower, "image.txt"), []byte("base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return lower
}

// checkContainers checks the first n containers of in, seen from the host
// through the pool's root: each writes a file of its own and reads it
// back; over a union (lower from imageLower) each reads the image's file,
// and one container's copy-up of it stays out of the others' view.
func checkContainers(t *testing.T, p testPool, in Instance, n int, union bool) {
	t.Helper()
	var dirs []string
	for i := range n {
		dirs = append(dirs, p.HostPath(in.Container(i).Dir))
	}
	for i, d := range dirs {
		if err := os.WriteFile(filepath.Join(d, "own"), []byte(fmt.Sprint("container ", i)), 0o644); err != nil {
			t.Fatalf("container %d: write: %v", i, err)
		}
	}
	for i, d := range dirs {
		got, err := os.ReadFile(filepath.Join(d, "own"))
		if err != nil || string(got) != fmt.Sprint("container ", i) {
			t.Errorf("container %d: read back (%q, %v)", i, got, err)
		}
		if union {
			if got, err := os.ReadFile(filepath.Join(d, "image.txt")); err != nil || string(got) != "base\n" {
				t.Errorf("container %d: image file: (%q, %v)", i, got, err)
			}
		}
	}
	if !union {
		return
	}
	if err := os.WriteFile(filepath.Join(dirs[0], "image.txt"), []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, d := range dirs[1:] {
		if got, _ := os.ReadFile(filepath.Join(d, "image.txt")); string(got) != "base\n" {
			t.Errorf("container %d sees container 0's copy-up: %q", i+1, got)
		}
	}
}
