package union_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/union"
)

// BenchmarkOps is the shared micro-benchmark suite on a union of two local
// branches. Its fixtures are created through the service, so they live in
// the upper branch.
func BenchmarkOps(b *testing.B) {
	fstest.Bench(b, func(b *testing.B) (fs.Service, string) {
		upper, lower := b.TempDir(), b.TempDir()
		u, err := union.New([]fs.Service{newLocal(b, upper), newLower(b, lower)})
		if err != nil {
			b.Fatal(err)
		}
		return u, upper
	})
}

// BenchmarkOpsLocal is the same suite on fs/local alone, in the same run,
// to split the union's cost from the local backend's: union/local is the
// union's own overhead.
func BenchmarkOpsLocal(b *testing.B) {
	fstest.Bench(b, func(b *testing.B) (fs.Service, string) {
		dir := b.TempDir()
		return newLocal(b, dir), dir
	})
}

// BenchmarkLowerReads measures reads of files that live in the lower branch
// (the common case for a container image): through the union, through
// fs/local alone on the lower directory, and with plain system calls, in the
// same run. Report union/os and union/local.
func BenchmarkLowerReads(b *testing.B) {
	lowerDir, upperDir := b.TempDir(), b.TempDir()
	data := make([]byte, 1<<20)
	rand.Read(data)
	if err := os.MkdirAll(filepath.Join(lowerDir, "usr", "lib"), 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 100 {
		if err := os.WriteFile(filepath.Join(lowerDir, "usr", "lib", fmt.Sprintf("f%03d", i)), data[:4096], 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(lowerDir, "usr", "lib", "big"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	lower := newLower(b, lowerDir)
	u, err := union.New([]fs.Service{newLocal(b, upperDir), lower})
	if err != nil {
		b.Fatal(err)
	}
	const name = "usr/lib/f042"
	impls := []struct {
		name string
		svc  fs.Service
	}{{"union", u}, {"local", lower}}

	b.Run("op=stat", func(b *testing.B) {
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				ctx := b.Context()
				for b.Loop() {
					if _, err := im.svc.Stat(ctx, name); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("impl=os", func(b *testing.B) {
			var st unix.Stat_t
			p := filepath.Join(lowerDir, name)
			for b.Loop() {
				if err := unix.Stat(p, &st); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
	b.Run("op=pread4k", func(b *testing.B) {
		buf := make([]byte, 4096)
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				f, err := im.svc.Open(b.Context(), "usr/lib/big", unix.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				b.SetBytes(4096)
				var off int64
				for b.Loop() {
					if _, err := f.Pread(buf, off); err != nil {
						b.Fatal(err)
					}
					off = (off + 4096) % (1 << 20)
				}
			})
		}
		b.Run("impl=os", func(b *testing.B) {
			f, err := os.Open(filepath.Join(lowerDir, "usr/lib/big"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(4096)
			var off int64
			for b.Loop() {
				if _, err := unix.Pread(int(f.Fd()), buf, off); err != nil {
					b.Fatal(err)
				}
				off = (off + 4096) % (1 << 20)
			}
		})
	})
	b.Run("op=open_read_close", func(b *testing.B) {
		buf := make([]byte, 4096)
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				ctx := b.Context()
				for b.Loop() {
					f, err := im.svc.Open(ctx, name, unix.O_RDONLY, 0)
					if err != nil {
						b.Fatal(err)
					}
					f.Pread(buf, 0)
					f.Close()
				}
			})
		}
		b.Run("impl=os", func(b *testing.B) {
			p := filepath.Join(lowerDir, name)
			for b.Loop() {
				fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
				if err != nil {
					b.Fatal(err)
				}
				unix.Pread(fd, buf, 0)
				unix.Close(fd)
			}
		})
	})
	b.Run("op=readdir100", func(b *testing.B) {
		for _, im := range impls {
			b.Run("impl="+im.name, func(b *testing.B) {
				ctx := b.Context()
				for b.Loop() {
					d, err := im.svc.OpenDir(ctx, "usr/lib")
					if err != nil {
						b.Fatal(err)
					}
					if ents, err := d.ReadDir(0); err != nil || len(ents) != 101 {
						b.Fatalf("readdir: %d entries, %v", len(ents), err)
					}
					d.Close()
				}
			})
		}
		b.Run("impl=os", func(b *testing.B) {
			p := filepath.Join(lowerDir, "usr/lib")
			for b.Loop() {
				ents, err := os.ReadDir(p)
				if err != nil || len(ents) != 101 {
					b.Fatalf("readdir: %d entries, %v", len(ents), err)
				}
			}
		})
	})
}

// BenchmarkCopyUp64MiB measures the copy-up of a 64 MiB lower file (a
// write-open through the union, then removing the copy so that the next
// iteration copies again) against io.Copy of the same file with os calls,
// in the same run. Sync is on for both (the union fsyncs a copy-up by
// default; the os variant calls f.Sync).
func BenchmarkCopyUp64MiB(b *testing.B) {
	const size = 64 << 20
	lowerDir := b.TempDir()
	src := filepath.Join(lowerDir, "big")
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(src, data, 0o644); err != nil {
		b.Fatal(err)
	}
	lower := newLower(b, lowerDir)
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("impl=union/sync=%v", sync), func(b *testing.B) {
			upperDir := b.TempDir()
			b.SetBytes(size)
			for b.Loop() {
				u, err := union.New([]fs.Service{newLocal(b, upperDir), lower}, union.WithCopyUpSync(sync))
				if err != nil {
					b.Fatal(err)
				}
				f, err := u.Open(b.Context(), "big", unix.O_RDWR, 0)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
				b.StopTimer()
				if err := os.Remove(filepath.Join(upperDir, "big")); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
		b.Run(fmt.Sprintf("impl=os/sync=%v", sync), func(b *testing.B) {
			dst := filepath.Join(b.TempDir(), "big")
			b.SetBytes(size)
			for b.Loop() {
				in, err := os.Open(src)
				if err != nil {
					b.Fatal(err)
				}
				out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(out, in); err != nil {
					b.Fatal(err)
				}
				if sync {
					out.Sync()
				}
				out.Close()
				in.Close()
				b.StopTimer()
				os.Remove(dst)
				b.StartTimer()
			}
		})
	}
}
