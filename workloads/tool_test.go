package workloads

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"polytropon/internal/hostcheck"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func near(got, want float64) bool { return math.Abs(got-want) <= 1e-9*math.Max(1, math.Abs(want)) }

func TestRocksDBReport(t *testing.T) {
	w := mustNew[*RocksDB](t, "rocksdb")
	w.KeySize, w.ValueSize = 9, 128<<10

	t.Run("fillrandom", func(t *testing.T) {
		res, err := w.Report(readTestdata(t, "db_bench_fillrandom.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 200 || res.Elapsed != 88*time.Millisecond {
			t.Errorf("ops %d elapsed %v, want 200 and 88ms", res.Ops, res.Elapsed)
		}
		for k, want := range map[string]float64{"ops_per_sec": 2266, "mb_per_sec": 283.4, "micros_per_op": 440.945,
			"write_p50_us": 243.39, "write_p99_us": 5166, "write_p99.9_us": 5166, "write_avg_us": 441.28, "write_max_us": 5166} {
			if !near(res.Counters[k], want) {
				t.Errorf("%s = %v, want %v", k, res.Counters[k], want)
			}
		}
		if want := int64(math.Round(283.4 * (1 << 20) * 0.088)); res.Bytes != want {
			t.Errorf("bytes = %d, want %d", res.Bytes, want)
		}
		h := res.Latency["write"]
		if h == nil || h.Count() != 200 || res.Latency["all"].Count() != 200 {
			t.Fatalf("write histogram %v, want 200 observations in write and all", h)
		}
		// 109 of 200 fall in (170, 250] us, so the median is there; the
		// max is clamped to the reported max.
		if p50 := h.Quantile(0.5); p50 < 170*time.Microsecond || p50 > 250*time.Microsecond {
			t.Errorf("p50 = %v, want within (170us, 250us]", p50)
		}
		if h.Max() > 5166*time.Microsecond || h.Max() < 4400*time.Microsecond {
			t.Errorf("max = %v, want in (4400us, 5166us]", h.Max())
		}
	})
	t.Run("readrandom", func(t *testing.T) {
		w := *w
		w.Mode = "get"
		res, err := w.Report(readTestdata(t, "db_bench_readrandom.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 400 || res.Counters["found"] != 247 || !near(res.Counters["read_p99_us"], 130) {
			t.Errorf("ops %d found %v p99 %v, want 400, 247, 130", res.Ops, res.Counters["found"], res.Counters["read_p99_us"])
		}
		if res.Latency["read"].Count() != 400 {
			t.Errorf("read histogram count %d, want 400", res.Latency["read"].Count())
		}
	})
	t.Run("readrandomwriterandom", func(t *testing.T) {
		w := *w
		w.Mode = "mixed"
		res, err := w.Report(readTestdata(t, "db_bench_readrandomwriterandom.txt"))
		if err != nil {
			t.Fatal(err)
		}
		if res.Ops != 200 || res.Latency["read"].Count() != 100 || res.Latency["write"].Count() != 100 || res.Latency["all"].Count() != 200 {
			t.Errorf("ops %d read %d write %d all %d, want 200/100/100/200", res.Ops,
				res.Latency["read"].Count(), res.Latency["write"].Count(), res.Latency["all"].Count())
		}
		if want := int64(100+61) * (9 + 128<<10); res.Bytes != want {
			t.Errorf("bytes = %d, want (writes + found) x (key + value) = %d", res.Bytes, want)
		}
		if !near(res.Counters["write_p99.9_us"], 877) || !near(res.Counters["read_p50_us"], 31) {
			t.Errorf("write p99.9 %v read p50 %v, want 877 and 31", res.Counters["write_p99.9_us"], res.Counters["read_p50_us"])
		}
	})
	t.Run("wrong_benchmark", func(t *testing.T) {
		w := *w
		w.Mode = "get"
		if _, err := w.Report(readTestdata(t, "db_bench_fillrandom.txt")); err == nil {
			t.Error("readrandom report accepted fillrandom output")
		}
	})
}

func TestRocksDBMakeCmd(t *testing.T) {
	w := mustNew[*RocksDB](t, "rocksdb")
	env := &Env{Dir: "/c/7", Seed: 5}
	w.Mode, w.ReadBytes, w.TotalBytes = "mixed", 256<<10, 1<<30
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(w.MakeCmd(env, w.benchmark()), " ")
	for _, want := range []string{"--benchmarks=readrandomwriterandom", "--db=/c/7/rocksdb", "--num=8192", "--reads=2",
		"--readwritepercent=50", "--key_size=9", "--value_size=131072", "--use_existing_db=1", "--histogram=1", "--seed=5", "--threads=1"} {
		if !strings.Contains(" "+got+" ", " "+want+" ") {
			t.Errorf("command %q lacks %q", got, want)
		}
	}
	if fill := strings.Join(w.MakeCmd(env, "fillseq"), " "); strings.Contains(fill, "--use_existing_db") || !strings.Contains(fill, "--benchmarks=fillseq") {
		t.Errorf("fill command %q", fill)
	}
}

func TestRandomIOReport(t *testing.T) {
	w := mustNew[*RandomIO](t, "randomio")
	res, err := w.Report(readTestdata(t, "stress-ng_hdd.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 1234794 || res.Elapsed != time.Duration(2.122232*float64(time.Second)) {
		t.Errorf("ops %d elapsed %v, want 1234794 and 2.122232s", res.Ops, res.Elapsed)
	}
	// One bogo op is one read or write of write_size (512 B by default).
	if res.Bytes != 1234794*512 || !near(res.MBPerSec(), 1234794*512/1e6/2.122232) {
		t.Errorf("bytes %d (%.1f MB/s), want 1234794 x 512 B over 2.122232 s", res.Bytes, res.MBPerSec())
	}
	for k, want := range map[string]float64{"bogo_ops_per_second_real_time": 581837.402198, "mbsec_read_rate": 262.397082,
		"mbsec_write_rate": 165.820906, "system_time": 1.769525} {
		if !near(res.Counters[k], want) {
			t.Errorf("%s = %v, want %v", k, res.Counters[k], want)
		}
	}
	if _, err := w.Report([]byte("---\nsystem-info:\n  cpus: 2\n")); err == nil {
		t.Error("report without metrics accepted")
	}
}

func TestRandomIOMakeCmd(t *testing.T) {
	w := mustNew[*RandomIO](t, "randomio")
	w.Duration = 120 * time.Second
	got := strings.Join(w.MakeCmd(&Env{Dir: "/c/1"}, "/tmp/r.yaml"), " ")
	want := "--hdd 2 --hdd-opts rd-rnd,wr-rnd --hdd-write-size 512 --hdd-bytes 1073741824 --temp-path /c/1/stress-ng --metrics-brief --yaml /tmp/r.yaml --timeout 120s"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

func TestSysbenchCPUReport(t *testing.T) {
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	res, err := w.Report(readTestdata(t, "sysbench_cpu.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 17884 || res.Elapsed != time.Duration(2.0008*float64(time.Second)) {
		t.Errorf("ops %d elapsed %v, want 17884 and 2.0008s", res.Ops, res.Elapsed)
	}
	for k, want := range map[string]float64{"events_per_sec": 8936.94, "latency_p99_ms": 0.27, "latency_avg_ms": 0.22,
		"latency_max_ms": 4.28, "latency_min_ms": 0.22, "latency_sum_ms": 3992.87} {
		if !near(res.Counters[k], want) {
			t.Errorf("%s = %v, want %v", k, res.Counters[k], want)
		}
	}
	h := res.Latency["event"]
	if h == nil || h.Count() != 17884 || res.Latency["all"].Count() != 17884 {
		t.Fatalf("event histogram %v, want the 17884 events of the table", h)
	}
	if p50 := h.Quantile(0.5); p50 < 210*time.Microsecond || p50 > 230*time.Microsecond {
		t.Errorf("p50 = %v, want about 0.218-0.222 ms", p50)
	}
	if _, err := w.Report([]byte("sysbench 1.0.20\nFATAL: bad option\n")); err == nil {
		t.Error("report of a failed run accepted")
	}
}

func TestSysbenchCPUMakeCmd(t *testing.T) {
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	w.Duration = 5 * time.Second
	got := strings.Join(w.MakeCmd(), " ")
	if want := "cpu --threads=2 --cpu-max-prime=10000 --time=5 --percentile=99 --report-interval=1 --histogram=on run"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestFindToolMissing(t *testing.T) {
	_, err := findTool(hostcheck.Program{Names: []string{"no-such-program-polytropon"}, Package: "no-such-package"})
	if !errors.Is(err, ErrToolMissing) || !strings.Contains(err.Error(), "no-such-package") {
		t.Errorf("got %v, want ErrToolMissing naming the package", err)
	}
}

// TestToolEnvAndDir: tools run in Env.Dir with Env.ProcEnv added.
func TestToolEnvAndDir(t *testing.T) {
	env := &Env{Dir: t.TempDir(), ProcEnv: []string{"POLYTROPON_PROBE=xyz"}}
	cmd := toolCommand(context.Background(), env, "/bin/sh", "-c", "echo $POLYTROPON_PROBE; pwd")
	out, err := runTool(context.Background(), env, "probe", cmd)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(out), "xyz\n"+env.Dir+"\n"; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
}

func requireTool(t *testing.T, pkg, name string) {
	t.Helper()
	if _, err := findTool(hostcheck.Program{Names: []string{name}, Package: pkg}); err != nil {
		t.Skipf("needs %s: install Debian package %s", name, pkg)
	}
}

// trackGroups records the process groups of the tools a test starts and
// checks at cleanup that none has a live (non-zombie) member left.
func trackGroups(t *testing.T) {
	t.Helper()
	var mu sync.Mutex
	var pgids []int
	toolStarted = func(pid int) { mu.Lock(); pgids = append(pgids, pid); mu.Unlock() }
	t.Cleanup(func() {
		toolStarted = nil
		mu.Lock()
		defer mu.Unlock()
		if len(pgids) == 0 {
			t.Error("no tool process was started")
		}
		for _, g := range pgids {
			var left []int
			for range 40 { // dying processes may take a moment
				if left = liveGroupMembers(g); len(left) == 0 {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if len(left) > 0 {
				t.Errorf("process group %d still has live processes %v", g, left)
			}
		}
	})
}

// liveGroupMembers lists the non-zombie processes in process group pgid.
func liveGroupMembers(pgid int) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // state ppid pgrp ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func TestRocksDBRun(t *testing.T) {
	requireTool(t, "rocksdb-tools", "db_bench")
	if testing.Short() {
		t.Skip("runs db_bench")
	}
	for _, mode := range []string{"put", "get", "mixed"} {
		t.Run(mode, func(t *testing.T) {
			trackGroups(t)
			env := newTestEnv(t)
			w := mustNew[*RocksDB](t, "rocksdb")
			w.Mode, w.ValueSize, w.TotalBytes, w.ReadBytes = mode, 4<<10, 200*4<<10, 100*4<<10
			res := prepareAndRunTool(t, w, env)
			want := map[string]int64{"put": 200, "get": 100, "mixed": 100}[mode]
			if res.Ops != want {
				t.Errorf("ops = %d, want %d", res.Ops, want)
			}
			if mode == "get" && res.Counters["found"] != float64(want) {
				t.Errorf("found %v of %d keys after fillseq, want all", res.Counters["found"], want)
			}
			if _, err := os.Stat(filepath.Join(env.Dir, "rocksdb", "CURRENT")); err != nil {
				t.Errorf("no database in the container dir: %v", err)
			}
			if res.Counters["ops_per_sec"] <= 0 {
				t.Errorf("ops_per_sec = %v", res.Counters["ops_per_sec"])
			}
		})
	}
}

func prepareAndRunTool(t *testing.T, w Workload, env *Env) *Result {
	t.Helper()
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Prepare(ctx, env); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	res, err := w.Run(ctx, env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Ops <= 0 || res.Elapsed <= 0 {
		t.Fatalf("ops %d elapsed %v, want both > 0", res.Ops, res.Elapsed)
	}
	if h := res.Latency["all"]; h != nil && h.Count() != res.Ops {
		t.Errorf("Latency[all] has %d observations, want ops = %d", h.Count(), res.Ops)
	}
	return res
}

func TestRandomIORun(t *testing.T) {
	requireTool(t, "stress-ng", "stress-ng")
	if testing.Short() {
		t.Skip("runs stress-ng")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*RandomIO](t, "randomio")
	w.Duration, w.Bytes = 2*time.Second, 16<<20
	res := prepareAndRunTool(t, w, env)
	if res.Counters["bogo_ops_per_second_real_time"] <= 0 {
		t.Errorf("counters %v, want bogo_ops_per_second_real_time > 0", res.Counters)
	}
	if _, err := os.Stat(filepath.Join(env.Dir, "stress-ng")); err != nil {
		t.Errorf("temp dir not in the container dir: %v", err)
	}
}

// TestRandomIOHostTempDir: an absolute temp_dir (the papers' RND on host
// ext4) gets one directory per instance, stress-ng works in it, and
// Cleanup removes it and the parents Prepare created, but not a parent
// that existed before.
func TestRandomIOHostTempDir(t *testing.T) {
	requireTool(t, "stress-ng", "stress-ng")
	if testing.Short() {
		t.Skip("runs stress-ng")
	}
	trackGroups(t)
	env := newTestEnv(t)
	existing := t.TempDir()
	w := mustNew[*RandomIO](t, "randomio")
	w.Duration, w.Bytes, w.TempDir = time.Second, 4<<20, filepath.Join(existing, "made", "rnd")
	res := prepareAndRunTool(t, w, env)
	if res.Bytes <= 0 {
		t.Errorf("bytes %d, want the I/O done", res.Bytes)
	}
	if got := strings.Join(w.MakeCmd(env, "y"), " "); !strings.Contains(got, "--temp-path "+w.TempDir+"/polytropon-randomio-p") {
		t.Errorf("command %q: want the instance's directory under temp_dir", got)
	}
	if err := w.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(existing, "made")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s after Cleanup: %v, want it removed", filepath.Join(existing, "made"), err)
	}
	if _, err := os.Stat(existing); err != nil {
		t.Errorf("the existing parent went too: %v", err)
	}
}

func TestSysbenchCPURun(t *testing.T) {
	requireTool(t, "sysbench", "sysbench")
	if testing.Short() {
		t.Skip("runs sysbench")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	w.Duration, w.MaxPrime = 2*time.Second, 2000
	res := prepareAndRunTool(t, w, env)
	if res.Latency["event"].Count() != res.Ops || res.Counters["latency_p99_ms"] <= 0 {
		t.Errorf("event histogram %d vs ops %d, p99 %v", res.Latency["event"].Count(), res.Ops, res.Counters["latency_p99_ms"])
	}
}

// TestSysbenchCPUStop: sysbench-cpu stopped mid-run (noise after the main
// workload) dies without its final report; Run returns its events/s and
// per-second latency percentiles from the interval lines, soon, and leaves
// no process behind.
func TestSysbenchCPUStop(t *testing.T) {
	requireTool(t, "sysbench", "sysbench")
	if testing.Short() {
		t.Skip("runs sysbench")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	w.Duration, w.MaxPrime, w.Threads = 60*time.Second, 2000, 1
	res, took := runStoppedAfter(t, w, env, 2500*time.Millisecond)
	if res.Ops <= 0 || res.Elapsed < time.Second || res.Elapsed > took || res.Counters["events_per_sec"] <= 0 {
		t.Errorf("ops %d elapsed %v events/s %v: want the whole seconds before the stop (Run took %v)",
			res.Ops, res.Elapsed, res.Counters["events_per_sec"], took)
	}
	if res.Counters["latency_interval_p99_max_ms"] <= 0 || res.Counters["stopped_early"] != 1 {
		t.Errorf("counters %v: want the per-second p99 and stopped_early", res.Counters)
	}
	if limit := 2500*time.Millisecond + sysbenchStopGrace + 5*time.Second; took > limit {
		t.Errorf("Run returned %v after start, want within %v", took, limit)
	}
}

// TestSysbenchCPUStopNearEnd: a stop that comes shortly before
// sysbench's own end waits for it, so the full report (with the
// histogram) comes back, not the per-second lines.
func TestSysbenchCPUStopNearEnd(t *testing.T) {
	requireTool(t, "sysbench", "sysbench")
	if testing.Short() {
		t.Skip("runs sysbench")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	w.Duration, w.MaxPrime, w.Threads = 3*time.Second, 2000, 1
	res, _ := runStoppedAfter(t, w, env, 2500*time.Millisecond)
	if res.Counters["stopped_early"] != 0 || res.Latency["event"] == nil || res.Counters["latency_p99_ms"] <= 0 {
		t.Errorf("counters %v, histogram %v: want sysbench's full report", res.Counters, res.Latency["event"])
	}
}

func TestSysbenchCPUIntervalReport(t *testing.T) {
	w := mustNew[*SysbenchCPU](t, "sysbench-cpu")
	out := "Threads started!\n\n[ 1s ] thds: 2 eps: 1075.41 lat (ms,99%): 34.33\n[ 2s ] thds: 2 eps: 1157.94 lat (ms,99%): 28.16\n"
	res, err := w.intervalReport([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 2233 || res.Elapsed != 2*time.Second || !near(res.Counters["events_per_sec"], 1116.675) ||
		!near(res.Counters["latency_interval_p99_max_ms"], 34.33) || !near(res.Counters["latency_interval_p99_mean_ms"], 31.245) {
		t.Errorf("ops %d elapsed %v counters %v", res.Ops, res.Elapsed, res.Counters)
	}
	if _, err := w.intervalReport([]byte("Threads started!\n")); err == nil {
		t.Error("a run stopped before any interval accepted")
	}
}

func TestLighttpdRun(t *testing.T) {
	requireTool(t, "lighttpd", "lighttpd")
	if testing.Short() {
		t.Skip("runs lighttpd")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*Lighttpd](t, "lighttpd")
	w.Clones = 2
	res := prepareAndRunTool(t, w, env)
	if res.Ops != 2 || res.Latency["startup"].Count() != 2 {
		t.Errorf("ops %d startup count %d, want 2 and 2", res.Ops, res.Latency["startup"].Count())
	}
	if res.Latency["startup"].Max() > res.Elapsed {
		t.Errorf("a clone's start-up %v exceeds the run's %v", res.Latency["startup"].Max(), res.Elapsed)
	}
	for i := range 2 {
		if _, err := os.Stat(filepath.Join(env.Dir, "lighttpd", "run", strconv.Itoa(i), "lighttpd.conf")); err != nil {
			t.Errorf("clone %d config not in the container dir: %v", i, err)
		}
	}
	// The program ran from the container's image: the binary, the loader
	// and at least libc mapped executable from below env.Dir, per clone
	// (Run fails when any program text comes from elsewhere).
	for _, f := range []string{"usr/sbin/lighttpd", "etc/lighttpd/lighttpd.conf", "var/www/html/index.html"} {
		if _, err := os.Stat(filepath.Join(env.Dir, "lighttpd", f)); err != nil {
			t.Errorf("image file %s not in the container dir: %v", f, err)
		}
	}
	if n := res.Counters["image_text_files"]; n < 2*3 {
		t.Errorf("image_text_files = %v, want >= 3 per clone (binary, loader, libc)", n)
	}
}

// TestImageText: a program installed into an image and run with the
// image's loader and libraries has all its text mapped from the image
// (binary, loader, libc at least); the host's own copy of the same
// program fails the check, which names it.
func TestImageText(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("needs sleep (coreutils)")
	}
	sleep, _ = filepath.EvalSymlinks(sleep)
	ctx := context.Background()
	im, err := resolveImage(ctx, sleep, "")
	if err != nil {
		t.Fatal(err)
	}
	env := newTestEnv(t)
	if err := im.install(ctx, env.FS, "img"); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(env.Dir, "img")
	loader, args := im.command(root)
	fromImage := startMapped(t, filepath.Join(root, sleep), loader, append(args, "30")...)
	if n, err := im.imageText(fromImage, root, nil); err != nil || n < 3 {
		t.Errorf("sleep run from the image: %d files from it, %v; want >= 3 (binary, loader, libc) and no error", n, err)
	}
	fromHost := startMapped(t, sleep, sleep, "30")
	if _, err := im.imageText(fromHost, root, nil); err == nil || !strings.Contains(err.Error(), sleep) {
		t.Errorf("the host's sleep checked against the image: %v, want an error naming %s", err, sleep)
	}
}

// startMapped starts name with args, killed at the test's end, and waits
// until its maps show file and libc mapped executable: the loader maps the
// program after exec and its libraries after that (waiting for the program
// alone once saw the image's sleep with two files mapped, libc not yet).
func startMapped(t *testing.T, file, name string, args ...string) int {
	t.Helper()
	cmd := exec.Command(name, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(20 * time.Second)
	for {
		maps, _ := os.ReadFile(fmt.Sprintf("/proc/%d/maps", cmd.Process.Pid))
		m := executableMappings(maps)
		if slices.Contains(m, file) && slices.ContainsFunc(m, func(p string) bool { return strings.HasPrefix(filepath.Base(p), "libc.so") }) {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s and libc not mapped within 20s; maps:\n%s", name, file, maps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestParseLoaderList(t *testing.T) {
	out := []byte("\tlinux-vdso.so.1 (0x00007ffd5b1e4000)\n" +
		"\tlibpcre2-8.so.0 => /lib/x86_64-linux-gnu/libpcre2-8.so.0 (0x00007f1c8d2a0000)\n" +
		"\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1c8d0bf000)\n" +
		"\t/lib64/ld-linux-x86-64.so.2 (0x00007f1c8d3a5000)\n")
	got, err := parseLoaderList("lighttpd", out)
	want := []string{"/lib/x86_64-linux-gnu/libpcre2-8.so.0", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("parseLoaderList = %v, %v; want %v", got, err, want)
	}
	_, err = parseLoaderList("lighttpd", append(out, "\tlibxxhash.so.0 => not found\n"...))
	if err == nil || !strings.Contains(err.Error(), "libxxhash.so.0") {
		t.Errorf("a library not found: %v, want an error naming it", err)
	}
}

// TestRandomIOStop: a randomio whose ctx ends mid-run (a noise workload
// stopped by the runner) asks stress-ng to stop, which still writes its
// report: Run returns what was measured so far, soon, and leaves no process
// of the group (stress-ng forks a worker per --hdd) behind.
func TestRandomIOStop(t *testing.T) {
	requireTool(t, "stress-ng", "stress-ng")
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*RandomIO](t, "randomio")
	w.Duration, w.Bytes = 60*time.Second, 16<<20
	res, took := runStoppedAfter(t, w, env, 1500*time.Millisecond)
	if res.Ops <= 0 || res.Counters["bogo_ops_per_second_real_time"] <= 0 {
		t.Errorf("ops %d, counters %v: want the work done before the stop", res.Ops, res.Counters)
	}
	if res.Bytes != res.Ops*int64(w.WriteSize) || res.MBPerSec() <= 0 {
		t.Errorf("bytes %d for %d ops of %v: want ops x write_size, a throughput above 0", res.Bytes, res.Ops, w.WriteSize)
	}
	if res.Elapsed <= 0 || res.Elapsed > took {
		t.Errorf("elapsed %v, want in (0, %v] (the time Run took)", res.Elapsed, took)
	}
	if limit := 1500*time.Millisecond + randomioStopGrace + 5*time.Second; took > limit {
		t.Errorf("Run returned %v after start, want within %v (stop grace)", took, limit)
	}
}

// runStoppedAfter prepares w and runs it with a context that ends after
// stop (a noise workload stopped by the runner); Run must still return a
// result. It returns the result and how long Run took.
func runStoppedAfter(t *testing.T, w Workload, env *Env, stop time.Duration) (*Result, time.Duration) {
	t.Helper()
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(stop, cancel)
	start := time.Now()
	res, err := w.Run(ctx, env)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Run stopped by its context: %v, want the result measured until then", err)
	}
	return res, took
}

// TestRunToolStoppableGrace: a program that handles SIGINT gets to finish
// (its output is returned), one that ignores it is killed after the grace;
// in both cases nothing of the group (a background child that ignores
// SIGINT) is left.
func TestRunToolStoppableGrace(t *testing.T) {
	trackGroups(t)
	env := &Env{Dir: t.TempDir()}
	stopSoon := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}

	ctx := stopSoon()
	cmd := toolCommand(context.WithoutCancel(ctx), env, "/bin/sh", "-c", `trap 'echo report; exit 0' INT; sleep 60 & wait`)
	out, stopped, err := runToolStoppable(ctx, env, "graceful", cmd, 10*time.Second)
	if err != nil || !stopped || string(out) != "report\n" {
		t.Errorf("graceful program: out %q stopped %v err %v, want its report, stopped, no error", out, stopped, err)
	}

	ctx = stopSoon()
	cmd = toolCommand(context.WithoutCancel(ctx), env, "/bin/sh", "-c", `trap '' INT; sleep 60 & wait`)
	start := time.Now()
	_, stopped, err = runToolStoppable(ctx, env, "stubborn", cmd, 500*time.Millisecond)
	if err == nil || !stopped || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("stubborn program: stopped %v err %v, want stopped and killed with an error", stopped, err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stubborn program returned after %v, want soon after the 0.5 s grace", d)
	}

	cmd = toolCommand(context.Background(), env, "/bin/sh", "-c", "echo done")
	out, stopped, err = runToolStoppable(context.Background(), env, "quick", cmd, time.Second)
	if err != nil || stopped || string(out) != "done\n" {
		t.Errorf("program ending by itself: out %q stopped %v err %v", out, stopped, err)
	}
}

// TestRunToolCancelKillsGroup: a tool whose children ignore their parent's
// death (a shell with a background sleep) leaves nothing behind either.
func TestRunToolCancelKillsGroup(t *testing.T) {
	trackGroups(t)
	env := &Env{Dir: t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	cmd := toolCommand(ctx, env, "/bin/sh", "-c", "sleep 60 & sleep 60; wait")
	if _, err := runTool(ctx, env, "sleeper", cmd); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("runTool after its context ended: %v, want context.DeadlineExceeded", err)
	}
}

func TestSysbenchFileioReport(t *testing.T) {
	w := mustNew[*SysbenchFileio](t, "sysbench-fileio")
	res, err := w.Report(readTestdata(t, "sysbench_fileio.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops != 113254 || res.Latency["event"].Count() != 113254 {
		t.Errorf("ops %d histogram %d, want 113254 both", res.Ops, res.Latency["event"].Count())
	}
	for k, want := range map[string]float64{"reads_per_sec": 32503.45, "writes_per_sec": 21669.80, "fsyncs_per_sec": 2169.91,
		"read_mib_per_sec": 507.87, "written_mib_per_sec": 338.59, "latency_p99_ms": 0.51, "latency_max_ms": 75.33} {
		if !near(res.Counters[k], want) {
			t.Errorf("%s = %v, want %v", k, res.Counters[k], want)
		}
	}
	mib, secs := 507.87+338.59, res.Elapsed.Seconds()
	if want := int64(mib * (1 << 20) * secs); res.Bytes != want || !near(secs, 2.0099) {
		t.Errorf("bytes = %d, want %d", res.Bytes, want)
	}
}

func TestSysbenchFileioRun(t *testing.T) {
	requireTool(t, "sysbench", "sysbench")
	if testing.Short() {
		t.Skip("runs sysbench")
	}
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*SysbenchFileio](t, "sysbench-fileio")
	w.Files, w.TotalSize, w.Duration, w.Threads = 4, 8<<20, 2*time.Second, 2
	res := prepareAndRunTool(t, w, env)
	if res.Counters["reads_per_sec"] <= 0 || res.Counters["writes_per_sec"] <= 0 || res.Bytes <= 0 {
		t.Errorf("counters %v bytes %d, want reads, writes and bytes > 0", res.Counters, res.Bytes)
	}
	files, _ := walkFiles(t, filepath.Join(env.Dir, "sysbench-fileio"))
	if len(files) != 4 {
		t.Errorf("test files %v, want 4 in the container's sysbench-fileio dir", files)
	}
}

// TestLighttpdPortTaken: a clone that cannot bind its port fails the run
// with a pointer to its error log, and leaves nothing running.
func TestLighttpdPortTaken(t *testing.T) {
	requireTool(t, "lighttpd", "lighttpd")
	trackGroups(t)
	env := newTestEnv(t)
	w := mustNew[*Lighttpd](t, "lighttpd")
	w.Timeout = 10 * time.Second
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(w.ports[0]))
	if err != nil {
		t.Skipf("port %d taken meanwhile: %v", w.ports[0], err)
	}
	defer l.Close()
	_, err = w.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "error.log") {
		t.Errorf("Run with the clone's port taken: %v, want an error naming the error log", err)
	}
	if _, err := w.Run(context.Background(), env); err == nil {
		t.Error("second Run without Prepare accepted")
	}
}

func TestFreePortsDistinct(t *testing.T) {
	a, err := freePorts(40)
	if err != nil {
		t.Fatal(err)
	}
	defer releasePorts(a)
	b, err := freePorts(40)
	if err != nil {
		t.Fatal(err)
	}
	defer releasePorts(b)
	seen := map[int]bool{}
	for _, p := range append(a, b...) {
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}
