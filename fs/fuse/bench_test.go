package fuse_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// BenchmarkOps measures stat, a 4 KiB pread and create+close with plain
// system calls, each on three directories in the same run: impl=os is the
// backing directory itself, impl=F and impl=FP the same directory served
// by the bridge (fs/local below it) and mounted without and with the
// kernel page cache. Report ratios F/os and FP/os (docs/bench-fuse.md).
// The daemon runs in the benchmark process, on goroutines of its own.
//
// -benchdir puts the backing directory on another filesystem (a tmpfs
// keeps the host disk's noise out of create_close).
func BenchmarkOps(b *testing.B) {
	backing := b.TempDir()
	if *benchDir != "" {
		var err error
		if backing, err = os.MkdirTemp(*benchDir, "fuse-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(backing) })
	}
	dirs := []struct{ impl, dir string }{{"os", backing}}
	for _, m := range modes {
		dirs = append(dirs, struct{ impl, dir string }{m.name, mount(b, newLocal(b, backing), m.opts)})
	}
	// Each implementation gets its own files (in the one backing
	// directory), so a page cached by one does not serve another.
	for _, d := range dirs {
		sub := filepath.Join(backing, "bench-"+d.impl)
		if err := os.Mkdir(sub, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "f"), make([]byte, 100), 0o644); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "data"), make([]byte, benchFileSize), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	for _, op := range []struct {
		name string
		fn   func(b *testing.B, dir string)
	}{
		{"stat", benchStat},
		{"pread4k", benchPread},
		{"create_close", benchCreate},
	} {
		b.Run("op="+op.name, func(b *testing.B) {
			for _, d := range dirs {
				b.Run("impl="+d.impl, func(b *testing.B) { op.fn(b, filepath.Join(d.dir, "bench-"+d.impl)) })
			}
		})
	}
}

const benchFileSize = 1 << 20

var benchDir = flag.String("benchdir", "", "parent of BenchmarkOps's backing directory (default: the test's temp dir)")

func benchStat(b *testing.B, dir string) {
	p := filepath.Join(dir, "f")
	var st unix.Stat_t
	for b.Loop() {
		if err := unix.Stat(p, &st); err != nil {
			b.Fatal(err)
		}
	}
}

// benchPread reads 4 KiB blocks in order over a 1 MiB file, wrapping
// around, so that FP serves from the page cache after the first pass.
func benchPread(b *testing.B, dir string) {
	fd, err := unix.Open(filepath.Join(dir, "data"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	b.SetBytes(int64(len(buf)))
	var off int64
	for b.Loop() {
		if n, err := unix.Pread(fd, buf, off); err != nil || n != len(buf) {
			b.Fatalf("pread: (%d, %v)", n, err)
		}
		off = (off + int64(len(buf))) % benchFileSize
	}
}

// benchCreate creates a new empty file per iteration and closes it; the
// files are removed outside the timer.
func benchCreate(b *testing.B, dir string) {
	sub, err := os.MkdirTemp(dir, "create-")
	if err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		fd, err := unix.Open(fmt.Sprintf("%s/f%d", sub, i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		if err := unix.Close(fd); err != nil {
			b.Fatal(err)
		}
		i++
	}
	if err := os.RemoveAll(sub); err != nil {
		b.Fatal(err)
	}
}
