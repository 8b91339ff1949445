package preload_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/mountinfo"
	"polytropon/fs/service/servicetest"
	"polytropon/internal/testenv"
)

// The benchmarks compare, in one run, the same program on
//
//   - native: a fresh ext4 on a loop device (sparse image), the file
//     system every other system's branches also live on;
//   - D, D-spin-futex, D-futex: system D as the harness builds it by
//     default (the preload library on a "polytropon serve" instance: the
//     client cache over a union of a writable branch and a shared
//     read-only branch, both opened O_DIRECT), with D's default wait
//     (adaptive, service threads at nice -10), with the old default (spin
//     1 ms, then futex) and with pure futex sleeps;
//   - D-nocache: the preload library on the bare union (buffered
//     branches, so the kernel page cache does the caching), spin-futex;
//   - fuse: the same service's own FUSE mount of the bare union (the
//     legacy interface: direct I/O, no kernel cache, passthrough off),
//     programs without the library (system F);
//   - unionfs: unionfs-fuse over the same two kinds of branches
//     (cow, allow_other, use_ino), the usual user-level union baseline.
//
//	go test -run '^$' -bench . -benchtime 1x -count 3 ./fs/preload
//
// Each reports the program's own per-operation time (prog-ns/op or
// <phase>-us/op); docs/bench-preload.md has the ratios.

type benchSys struct {
	name string
	dir  string // where the program works
	pool *pool  // the service; nil for native and unionfs
}

// benchSystems sets up the systems on one loop-device ext4; unionfs is
// left out (with a log line) when unionfs-fuse is not installed.
func benchSystems(b *testing.B) []benchSys {
	b.Helper()
	testenv.RequireFUSE(b)
	fsDir := loopExt4(b)
	sub := func(name string) string {
		d := filepath.Join(fsDir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
		return d
	}
	out := []benchSys{{name: "native", dir: sub("native")}}
	for _, s := range []struct {
		name string
		o    poolOpts
	}{
		{"D", poolOpts{dStack: true, args: []string{"-wait", "adaptive", "-nice", "-10"}}},
		{"D-spin-futex", poolOpts{dStack: true, args: []string{"-wait", "spin-futex"}}},
		{"D-futex", poolOpts{dStack: true, args: []string{"-wait", "futex"}}},
		{"D-nocache", poolOpts{args: []string{"-wait", "spin-futex"}}},
		{"fuse", poolOpts{via: viaFuse}},
	} {
		s.o.bufSize, s.o.base = 1<<20, sub(s.name)
		p := startPool(b, s.o)
		out = append(out, benchSys{name: s.name, dir: p.Root, pool: p})
	}
	if _, err := exec.LookPath("unionfs"); err != nil {
		b.Logf("no unionfs-fuse comparison: install package unionfs-fuse")
		return out
	}
	return append(out, benchSys{name: "unionfs", dir: unionfsMount(b, sub("unionfs"))})
}

// loopExt4 makes a 4 GiB sparse image, attaches it to a free loop device,
// formats it with ext4 and mounts it on a temporary directory; cleanup
// unmounts it and detaches the device.
func loopExt4(b *testing.B) string {
	b.Helper()
	for _, prog := range [][2]string{{"losetup", "mount"}, {"mkfs.ext4", "e2fsprogs"}} {
		testenv.RequireTool(b, prog[0], prog[1])
	}
	img := filepath.Join(b.TempDir(), "ext4.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(img, 4<<30); err != nil {
		b.Fatal(err)
	}
	devOut, err := exec.Command("losetup", "--find", "--show", img).CombinedOutput()
	if err != nil {
		b.Skipf("needs root and loop devices: losetup --find --show: %v: %s", err, devOut)
	}
	dev := strings.TrimSpace(string(devOut))
	b.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			b.Errorf("losetup -d %s: %v: %s", dev, err, out)
		}
	})
	if out, err := exec.Command("mkfs.ext4", "-q", dev).CombinedOutput(); err != nil {
		b.Fatalf("mkfs.ext4 %s: %v: %s", dev, err, out)
	}
	mnt := b.TempDir()
	if err := unix.Mount(dev, mnt, "ext4", 0, ""); err != nil {
		b.Fatalf("mount %s on %s: %v", dev, mnt, err)
	}
	// Registered before the services and mounts that live on it start,
	// so it runs after their cleanups (last in, first out).
	b.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			b.Errorf("umount %s: %v; detaching lazily", mnt, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	})
	return mnt
}

// unionfsMount starts unionfs-fuse in the foreground as a child, with a
// writable and a read-only branch under base, and waits for its mount;
// cleanup unmounts it and waits for the process to exit.
func unionfsMount(b *testing.B, base string) string {
	b.Helper()
	up, low, mnt := filepath.Join(base, "upper"), filepath.Join(base, "lower"), filepath.Join(base, "mnt")
	for _, d := range []string{up, low, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			b.Fatal(err)
		}
	}
	cmd := exec.Command("unionfs", "-f", "-o", "cow,allow_other,use_ino", up+"=RW:"+low+"=RO", mnt)
	logs := &servicetest.Log{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	b.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			b.Errorf("umount unionfs on %s: %v; detaching lazily", mnt, err)
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			b.Errorf("unionfs did not exit after its unmount; killing it")
			cmd.Process.Kill()
			<-done
		}
	})
	mounted := func() bool { ok, _ := mountinfo.Mounted("/proc/self/mountinfo", mnt); return ok }
	if !waitFor(10*time.Second, mounted) {
		b.Fatalf("unionfs did not mount %s:\n%s", mnt, logs)
	}
	return mnt
}

// BenchmarkPread4K: random 4 KiB preads over an 8 MiB file
// (testdata/preadloop.c), at least 20000 of them per system (b.N when
// larger).
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
			name := fmt.Sprintf("data-%d", b.N)
			run(b, s.pool, s.dir, 60*time.Second, "cp", src, name)
			n := max(b.N, 20000)
			b.ResetTimer()
			out := run(b, s.pool, s.dir, 10*time.Minute, prog, name, strconv.Itoa(n))
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

// dbBenchConfigs are the two RocksDB set-ups of BenchmarkDbBench:
// db_bench's own defaults (64 MiB write buffer: the puts stay in the
// memtable and the WAL, as in the papers' put workloads), and a
// flush-heavy one (128 KiB write buffer and 256 KiB files, as
// TestDbBench: a memtable flush, with its SST write, fdatasync and WAL
// deletion, every ~1100 puts, by RocksDB's two background threads).
var dbBenchConfigs = []struct {
	name string
	args func(db string) []string
}{
	{"defaults", func(db string) []string {
		return []string{"--db=" + db, "--num=100000", "--value_size=100", "--seed=42", "--threads=1",
			"--histogram=0", "--stats_interval=0"}
	}},
	{"flush-heavy", func(db string) []string { return dbBenchArgs(db, 20000) }},
}

// BenchmarkDbBench: db_bench fillrandom then readrandom per configuration
// and system; reports db_bench's micros/op of each phase. One run whatever
// b.N is (use -benchtime 1x).
func BenchmarkDbBench(b *testing.B) {
	testenv.RequireTool(b, "db_bench", "rocksdb-tools")
	systems := benchSystems(b)
	for _, cfg := range dbBenchConfigs {
		for _, s := range systems {
			b.Run("cfg="+cfg.name+"/sys="+s.name, func(b *testing.B) {
				// One db_bench run whatever b.N is: its own timing is
				// the result.
				db := fmt.Sprintf("db-%s-%d", cfg.name, b.N)
				args := append(cfg.args(filepath.Join(s.dir, db)), "--benchmarks=fillrandom,readrandom")
				out := run(b, s.pool, s.dir, 10*time.Minute, "db_bench", args...)
				phases := 0
				for _, m := range microsRe.FindAllStringSubmatch(out, -1) {
					v, _ := strconv.ParseFloat(m[2], 64)
					b.ReportMetric(v, m[1]+"-us/op")
					phases++
				}
				if phases != 2 {
					b.Fatalf("db_bench printed %d phase results, want 2:\n%s", phases, out)
				}
			})
		}
	}
}
