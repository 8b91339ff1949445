package fstest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Bench runs the micro-benchmarks stat, pread4k, pwrite4k, create_close and
// readdir10k, each as two sub-benchmarks: impl=service (through the service)
// and impl=os (the same operation with plain system calls on hostDir, a host
// directory on the same backend, in the same run). Report ratios
// service/os; absolute numbers depend on the machine.
//
// The two variants build their own fixtures (the service one through the
// service API under bench-svc/, the os one under hostDir/bench-os/), so
// hostDir need not be the service root.
func Bench(b *testing.B, newService func(b *testing.B) (svc fs.Service, hostDir string)) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			// Fixtures are built once per operation: the sub-benchmark
			// functions run several times while b.N grows.
			s, hostDir := newService(b)
			const svcDir = "bench-svc"
			if err := s.Mkdir(ctx(b), svcDir, 0o755); err != nil {
				b.Fatal(err)
			}
			osDir := filepath.Join(hostDir, "bench-os")
			if err := os.Mkdir(osDir, 0o755); err != nil {
				b.Fatal(err)
			}
			svcRun := bc.service(b, s, svcDir)
			osRun := bc.os(b, osDir)
			b.Run("impl=service", svcRun)
			b.Run("impl=os", osRun)
		})
	}
}

// benchCase builds the fixture of one operation and returns the loops.
type benchCase struct {
	name    string
	service func(b *testing.B, s fs.Service, dir string) func(*testing.B)
	os      func(b *testing.B, dir string) func(*testing.B)
}

const (
	benchIOSize   = 4096
	benchFileSize = 1 << 20
	benchDirSize  = 10000
)

var benchCases = []benchCase{
	{"stat", benchStatService, benchStatOS},
	{"pread4k", benchPreadService, benchPreadOS},
	{"pwrite4k", benchPwriteService, benchPwriteOS},
	{"create_close", benchCreateService, benchCreateOS},
	{"readdir10k", benchReaddirService, benchReaddirOS},
}

func svcWrite(b *testing.B, s fs.Service, name string, size int) {
	b.Helper()
	f, err := s.Open(ctx(b), name, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
	if err != nil {
		b.Fatal(err)
	}
	if size > 0 {
		if _, err := f.Pwrite(make([]byte, size), 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

func benchStatService(b *testing.B, s fs.Service, dir string) func(*testing.B) {
	name := dir + "/f"
	svcWrite(b, s, name, 100)
	return func(b *testing.B) {
		c := ctx(b)
		for b.Loop() {
			if _, err := s.Stat(c, name); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func benchStatOS(b *testing.B, dir string) func(*testing.B) {
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, make([]byte, 100), 0o644); err != nil {
		b.Fatal(err)
	}
	return func(b *testing.B) {
		var st unix.Stat_t
		for b.Loop() {
			if err := unix.Stat(p, &st); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// ioLoop runs 4 KiB positional I/O over a 1 MiB file.
func ioLoop(b *testing.B, op func(p []byte, off int64) (int, error)) {
	buf := make([]byte, benchIOSize)
	b.SetBytes(benchIOSize)
	var off int64
	for b.Loop() {
		if _, err := op(buf, off); err != nil {
			b.Fatal(err)
		}
		off = (off + benchIOSize) % benchFileSize
	}
}

func svcIO(b *testing.B, s fs.Service, dir string, flags int, write bool) func(*testing.B) {
	name := dir + "/data"
	svcWrite(b, s, name, benchFileSize)
	f, err := s.Open(ctx(b), name, flags, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if write {
		return func(b *testing.B) { ioLoop(b, f.Pwrite) }
	}
	return func(b *testing.B) { ioLoop(b, f.Pread) }
}

func osIO(b *testing.B, dir string, flags int, write bool) func(*testing.B) {
	p := filepath.Join(dir, "data")
	if err := os.WriteFile(p, make([]byte, benchFileSize), 0o644); err != nil {
		b.Fatal(err)
	}
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { unix.Close(fd) })
	if write {
		return func(b *testing.B) {
			ioLoop(b, func(p []byte, off int64) (int, error) { return unix.Pwrite(fd, p, off) })
		}
	}
	return func(b *testing.B) {
		ioLoop(b, func(p []byte, off int64) (int, error) { return unix.Pread(fd, p, off) })
	}
}

func benchPreadService(b *testing.B, s fs.Service, dir string) func(*testing.B) {
	return svcIO(b, s, dir, unix.O_RDONLY, false)
}

func benchPreadOS(b *testing.B, dir string) func(*testing.B) {
	return osIO(b, dir, unix.O_RDONLY, false)
}

func benchPwriteService(b *testing.B, s fs.Service, dir string) func(*testing.B) {
	return svcIO(b, s, dir, unix.O_WRONLY, true)
}

func benchPwriteOS(b *testing.B, dir string) func(*testing.B) {
	return osIO(b, dir, unix.O_WRONLY, true)
}

// The create benchmarks create a new file per iteration; the counter lives
// across the repeated runs of the loop function so names never repeat.
func benchCreateService(b *testing.B, s fs.Service, dir string) func(*testing.B) {
	i := 0
	return func(b *testing.B) {
		c := ctx(b)
		for b.Loop() {
			f, err := s.Open(c, fmt.Sprintf("%s/f%d", dir, i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}

func benchCreateOS(b *testing.B, dir string) func(*testing.B) {
	i := 0
	return func(b *testing.B) {
		for b.Loop() {
			fd, err := unix.Open(fmt.Sprintf("%s/f%d", dir, i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			if err := unix.Close(fd); err != nil {
				b.Fatal(err)
			}
			i++
		}
	}
}

func benchReaddirService(b *testing.B, s fs.Service, dir string) func(*testing.B) {
	c := ctx(b)
	for i := range benchDirSize {
		f, err := s.Open(c, fmt.Sprintf("%s/entry-%05d", dir, i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	return func(b *testing.B) {
		c := ctx(b)
		for b.Loop() {
			d, err := s.OpenDir(c, dir)
			if err != nil {
				b.Fatal(err)
			}
			total := 0
			for {
				ents, err := d.ReadDir(1024)
				if err != nil {
					b.Fatal(err)
				}
				if len(ents) == 0 {
					break
				}
				total += len(ents)
			}
			d.Close()
			if total != benchDirSize {
				b.Fatalf("readdir returned %d entries, want %d", total, benchDirSize)
			}
		}
	}
}

func benchReaddirOS(b *testing.B, dir string) func(*testing.B) {
	for i := range benchDirSize {
		fd, err := unix.Open(fmt.Sprintf("%s/entry-%05d", dir, i), unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_CLOEXEC, 0o644)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
	return func(b *testing.B) {
		for b.Loop() {
			f, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			total := 0
			for {
				ents, err := f.ReadDir(1024)
				total += len(ents)
				if err != nil || len(ents) == 0 {
					break
				}
			}
			f.Close()
			if total != benchDirSize {
				b.Fatalf("readdir returned %d entries, want %d", total, benchDirSize)
			}
		}
	}
}
