package local_test

import (
	"path/filepath"
	"testing"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/local"
)

// newLocal returns a factory of Local services over fresh temp directories.
func newLocal(opts ...local.Option) func(t *testing.T) fs.Service {
	return func(t *testing.T) fs.Service {
		s, err := local.New(t.TempDir(), opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func TestConformance(t *testing.T)        { fstest.Run(t, newLocal()) }
func TestConformanceODirect(t *testing.T) { fstest.Run(t, newLocal(local.WithODirect())) }

func TestEscape(t *testing.T) {
	fstest.RunEscape(t, func(t *testing.T) (fs.Service, string) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "a", "b", "root"), filepath.Join(base, "outside")
		s := mustNew(t, root, outside)
		return s, outside
	})
}

func BenchmarkOps(b *testing.B) {
	fstest.Bench(b, func(b *testing.B) (fs.Service, string) {
		dir := b.TempDir()
		s, err := local.New(dir)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close() })
		return s, dir
	})
}
