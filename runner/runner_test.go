package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/results"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/systems"
)

// polytroponBin is the real binary, built once: the runner re-executes it
// inside pools as the workload agent.
var polytroponBin string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() == 0 {
		dir, err := os.MkdirTemp("", "polytropon-runner-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "polytropon")
		out, err := exec.Command("go", "build", "-o", bin, "polytropon/cmd/polytropon").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building polytropon: %v\n%s", err, out)
			return 1
		}
		polytroponBin = bin
	}
	return m.Run()
}

// requireHarness skips unless the run can really provision pools and K.
func requireHarness(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("provisions real pools; skipped with -short")
	}
	if polytroponBin == "" {
		t.Skip("needs root: pools need cgroups and namespaces, K needs mount and losetup")
	}
	k, err := systems.Lookup("K")
	if err != nil {
		t.Fatal(err)
	}
	if err := k.Check(); err != nil {
		t.Skip(err)
	}
}

// writeExperiment writes an experiment file and loads it like `run` does.
func writeExperiment(t *testing.T, text string) (string, *config.Experiment) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "exp.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	exp, err := config.Load(path)
	if err != nil {
		t.Fatalf("load experiment: %v", err)
	}
	return path, exp
}

const twoPoolsFileserver = `
name = "it"
systems = ["K"]
[options.K]
size = "512M"
[run]
repetitions = { min = 2, max = 2 }
warmup = "10ms"
duration = "%s"
timeout = "1m"
[pools]
count = [2]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
[workload.params]
nfiles = 60
filesize = "16KiB"
nthreads = 2
iosize = "16KiB"
[[plot]]
kind = "bar"
x = "pools"
y = "throughput_mbps"
file = "it-throughput"
`

// TestRunTwoPoolsFileserver provisions two real pools, runs a short
// fileserver in each through K, and checks what the run directory holds.
func TestRunTwoPoolsFileserver(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, fmt.Sprintf(twoPoolsFileserver, "2s"))
	work, out := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: out, WorkDir: work, AgentBinary: polytroponBin, Stdout: &stdout, Stderr: &stderr})
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Complete || len(res.Points) != 1 || len(res.Points[0].Repetitions) != 2 {
		t.Fatalf("outcome: complete=%v points=%d; want complete, 1 point with 2 repetitions", res.Complete, len(res.Points))
	}
	for _, rep := range res.Points[0].Repetitions {
		pools := map[int]bool{}
		for _, in := range rep.Instances {
			if in.Result == nil || in.Result.Ops == 0 || in.Result.Bytes == 0 {
				t.Errorf("rep %d pool %d: no work done: %+v", rep.Index, in.Pool, in.Result)
			}
			pools[in.Pool] = true
		}
		if len(pools) != 2 {
			t.Errorf("rep %d ran in pools %v, want 0 and 1", rep.Index, pools)
		}
		if len(metrics.Names()) > 0 && len(rep.Metrics) == 0 {
			t.Errorf("rep %d: collectors %v registered but no metric collected (notes %v)", rep.Index, metrics.Names(), rep.Notes)
		}
	}

	run, warns, err := results.Open(res.Dir)
	if err != nil {
		t.Fatalf("open run dir: %v", err)
	}
	if len(warns) > 0 {
		t.Errorf("run dir warnings: %v", warns)
	}
	if !run.Complete() {
		t.Errorf("run dir %s marked incomplete", res.Dir)
	}
	row := run.Table().Lookup("system=K/pools=2", results.MetricThroughput)
	if row == nil || row.N != 2 || !(row.Mean > 0) {
		t.Fatalf("summary of throughput: %+v; want 2 positive samples", row)
	}
	for _, f := range []string{results.ConfigFile, results.HostFile, results.SummaryFile, results.BenchFile} {
		if st, err := os.Stat(filepath.Join(res.Dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s missing or empty: %v", f, err)
		}
	}
	if plots, _ := filepath.Glob(filepath.Join(res.Dir, results.PlotsDir, "it-throughput.*")); len(plots) == 0 {
		t.Errorf("no plot it-throughput.* in %s", filepath.Join(res.Dir, results.PlotsDir))
	}
	if !strings.Contains(stdout.String(), "system=K/pools=2") {
		t.Errorf("summary table lacks the point:\n%s", stdout.String())
	}
	assertNothingLeft(t, work, os.Getpid())
}

// TestRunInterrupted runs the real binary, sends SIGINT after the first
// repetition is stored, and checks that the run is marked incomplete, the
// finished repetition is kept and nothing is left behind.
func TestRunInterrupted(t *testing.T) {
	requireHarness(t)
	path, _ := writeExperiment(t, fmt.Sprintf(twoPoolsFileserver, "4s"))
	work, out := t.TempDir(), t.TempDir()
	cmd := exec.Command(polytroponBin, "run", "-out", out, "-work", work, path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-done
		}
	})

	// Wait until one repetition is stored and the second is running.
	var runDir string
	deadline := time.Now().Add(90 * time.Second)
	for runDir == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no finished repetition after 90s\nstderr:\n%s", stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before the interrupt: %v\n%s", err, stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
		dirs, _ := filepath.Glob(filepath.Join(out, "it-*"))
		for _, d := range dirs {
			if okRepetitions(t, filepath.Join(d, results.SamplesFile)) >= 1 {
				runDir = d
			}
		}
	}
	time.Sleep(1500 * time.Millisecond) // inside the second repetition's measured phase
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("interrupted run: exit %v, want a non-zero status", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("run did not end within 60s of SIGINT\nstderr:\n%s", stderr.String())
	}
	t.Logf("stderr:\n%s", stderr.String())
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted")
	}
	if _, err := os.Stat(filepath.Join(runDir, results.IncompleteFile)); err != nil {
		t.Errorf("run dir not marked incomplete: %v", err)
	}
	if n := okRepetitions(t, filepath.Join(runDir, results.SamplesFile)); n != 1 {
		t.Errorf("finished repetitions kept: %d, want 1", n)
	}
	assertNothingLeft(t, work, cmd.Process.Pid)
}

// okRepetitions counts closing records of finished repetitions.
func okRepetitions(t *testing.T, samples string) int {
	f, err := os.Open(samples)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var rec results.Record
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Kind == results.KindRepetition && rec.OK {
			n++
		}
	}
	return n
}

// assertNothingLeft checks that a run left no pool cgroups, mounts, loop
// devices or agent processes.
func assertNothingLeft(t *testing.T, work string, runnerPid int) {
	t.Helper()
	cg, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/polytropon/run-*-%d", runnerPid))
	if len(cg) > 0 {
		t.Errorf("pool cgroups left: %v", cg)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(mi), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], work) {
			t.Errorf("mount left: %s", f[4])
		}
	}
	lo, err := exec.Command("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	for _, line := range strings.Split(string(lo), "\n") {
		if strings.Contains(line, work) {
			t.Errorf("loop device left: %s", line)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		args := strings.Split(string(data), "\x00")
		if len(args) > 1 && args[0] == polytroponBin && args[1] == "_agent" {
			t.Errorf("agent process left: %s", p)
		}
	}
	if ents, _ := os.ReadDir(work); len(ents) > 0 {
		t.Errorf("work dir not emptied: %v", ents)
	}
}
