package cache_test

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/fstest"
	"polytropon/fs/local"
)

// BenchmarkPread4K compares cached 4 KiB reads (the file is in the cache)
// with the same reads from the uncached backend, for fs/local with
// O_DIRECT and plain (kernel page cache) fs/local, in the same run. The
// reads cycle through a 1 MiB file, as fstest's pread4k does:
//
//	go test -run '^$' -bench Pread4K -benchtime 200ms ./fs/cache
func BenchmarkPread4K(b *testing.B) {
	const size, io = 1 << 20, 4096
	for _, bc := range []struct {
		name string
		opts []local.Option
	}{{"local-odirect", []local.Option{local.WithODirect()}}, {"local", nil}} {
		b.Run("backend="+bc.name, func(b *testing.B) {
			dir := b.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "f"), pattern(size, 1), 0o644); err != nil {
				b.Fatal(err)
			}
			back := newLocal(b, dir, bc.opts...)
			c := newCache(b, back, cache.Options{Capacity: 4 * size})
			for _, impl := range []struct {
				name string
				s    fs.Service
			}{{"uncached", back}, {"cache", c}} {
				f, err := impl.s.Open(b.Context(), "f", unix.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				buf := make([]byte, io)
				for off := int64(0); off < size; off += io { // warm the cache
					if _, err := f.Pread(buf, off); err != nil {
						b.Fatal(err)
					}
				}
				b.Run("impl="+impl.name, func(b *testing.B) {
					b.SetBytes(io)
					off := int64(0)
					for b.Loop() {
						if _, err := f.Pread(buf, off); err != nil {
							b.Fatal(err)
						}
						off = (off + io) % size
					}
				})
				f.Close()
			}
		})
	}
}

// BenchmarkOps is the fstest micro-benchmark suite through a write-back
// cache over fs/local (ratios against plain system calls on the same
// directory).
func BenchmarkOps(b *testing.B) {
	fstest.Bench(b, func(b *testing.B) (fs.Service, string) {
		dir := b.TempDir()
		return newCache(b, newLocal(b, dir), cache.Options{}), dir
	})
}
