package preload_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/fuse"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// The benchmarks compare, in one run, the same program on a plain ext4
// directory (sys=native), through the preload library on the service
// (sys=preload, system D) and through the FUSE bridge serving the same
// union stack in this process (sys=fuse, system F: no kernel cache, no
// passthrough). The preload systems differ in the service's wait strategy
// (preload-spin-futex is the default):
//
//	go test -run '^$' -bench Pread4K -benchtime 20000x ./fs/preload
//	go test -run '^$' -bench DbBench -benchtime 1x ./fs/preload
//
// Each reports the program's own per-operation time (prog-ns/op or
// micros/op); docs/bench-preload.md has the ratios.

type benchSys struct {
	name string
	dir  string // where the program works
	pool *pool  // preload: the service
}

// benchSystems sets up the three systems; fuse is skipped (with a log
// line) when it cannot mount.
func benchSystems(b *testing.B) []benchSys {
	b.Helper()
	native := b.TempDir()
	out := []benchSys{{name: "native", dir: native}}
	// The service's default wait (spin-futex, 1 ms of polling on both
	// sides) and pure futex sleeps, which fare better when the CPUs are
	// oversubscribed.
	for _, w := range []string{"spin-futex", "futex"} {
		p := startPool(b, poolOpts{bufSize: 1 << 20, args: []string{"-wait", w}})
		out = append(out, benchSys{name: "preload-" + w, dir: p.Root, pool: p})
	}
	upper, lower, mnt := b.TempDir(), b.TempDir(), b.TempDir()
	up, err := local.New(upper)
	if err != nil {
		b.Fatal(err)
	}
	lo, err := local.New(lower, local.WithReadOnly())
	if err != nil {
		b.Fatal(err)
	}
	u, err := union.New([]fs.Service{up, lo})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := fuse.Mount(u, mnt, fuse.Options{})
	if err != nil {
		b.Logf("no FUSE comparison: %v", err)
		return out
	}
	b.Cleanup(func() {
		if srv.Unmount() != nil {
			srv.Detach()
		}
		srv.Wait()
		u.Close()
		up.Close()
		lo.Close()
	})
	return append(out, benchSys{name: "fuse", dir: mnt})
}

// BenchmarkPread4K: random 4 KiB preads over an 8 MiB file
// (testdata/preadloop.c), b.N of them per system.
func BenchmarkPread4K(b *testing.B) {
	prog := compile(b, "testdata/preadloop.c")
	data := make([]byte, 8<<20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, s := range benchSystems(b) {
		b.Run("sys="+s.name, func(b *testing.B) {
			// Write the file through the system itself.
			src := filepath.Join(b.TempDir(), "src")
			if err := os.WriteFile(src, data, 0o644); err != nil {
				b.Fatal(err)
			}
			run(b, s.pool, s.dir, 60*time.Second, "cp", src, "data")
			n := max(b.N, 1000)
			b.ResetTimer()
			out := run(b, s.pool, s.dir, 10*time.Minute, prog, "data", strconv.Itoa(n))
			b.StopTimer()
			ns, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(out, "ns/op")), 64)
			if err != nil {
				b.Fatalf("preadloop printed %q", out)
			}
			b.ReportMetric(ns, "prog-ns/op")
		})
	}
}

var microsRe = regexp.MustCompile(`(\w+)\s*:\s*([0-9.]+) micros/op`)

// BenchmarkDbBench: db_bench fillrandom then readrandom, 20000 keys of 100
// bytes, per system; reports db_bench's micros/op of each phase. One run
// whatever b.N is (use -benchtime 1x).
func BenchmarkDbBench(b *testing.B) {
	need(b, "db_bench", "rocksdb-tools")
	for _, s := range benchSystems(b) {
		b.Run("sys="+s.name, func(b *testing.B) {
			// One db_bench run whatever b.N is: its own timing is the
			// result.
			db := fmt.Sprintf("db-%d", b.N)
			args := append(dbBenchArgs(filepath.Join(s.dir, db), 20000), "--benchmarks=fillrandom,readrandom")
			out := run(b, s.pool, s.dir, 10*time.Minute, "db_bench", args...)
			for _, m := range microsRe.FindAllStringSubmatch(out, -1) {
				v, _ := strconv.ParseFloat(m[2], 64)
				b.ReportMetric(v, m[1]+"-us/op")
			}
		})
	}
}
