package runner

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/wire"
	"polytropon/internal/testenv"
	"polytropon/results"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/systems"
)

// polytroponBin is the real binary (internal/testenv builds it once): the
// runner re-executes it inside pools as the workload agent. requireHarness
// sets it.
var polytroponBin string

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// requireHarness skips unless the run can really provision pools and K.
func requireHarness(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("provisions real pools; skipped with -short")
	}
	testenv.RequireRoot(t, "pools need cgroups and namespaces, K needs mount and losetup")
	polytroponBin = testenv.Polytropon(t)
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
// fileserver in each through K and through D (a filesystem service per
// pool), and checks what the run directory holds and that nothing is left.
func TestRunTwoPoolsFileserver(t *testing.T) {
	requireHarness(t)
	t.Run("K", func(t *testing.T) { runTwoPoolsFileserver(t, "K", fmt.Sprintf(twoPoolsFileserver, "2s")) })
	// D and F: the filesystem service per pool, reached over shared
	// memory (D) or through its FUSE mount only (F).
	for _, name := range []string{"D", "F"} {
		t.Run(name, func(t *testing.T) {
			sys, err := systems.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			testenv.RequireFUSE(t) // the system mounts its instances with FUSE
			t.Setenv("POLYTROPON_BIN", polytroponBin)
			if err := sys.Check(); err != nil {
				t.Skip(err)
			}
			kPart := "systems = [\"K\"]\n[options.K]\nsize = \"512M\"\n"
			if !strings.Contains(twoPoolsFileserver, kPart) {
				t.Fatalf("twoPoolsFileserver no longer holds %q", kPart)
			}
			text := strings.Replace(twoPoolsFileserver, kPart, fmt.Sprintf("systems = [%q]\n[options.%s]\nbinary = %q\n", name, name, polytroponBin), 1)
			runTwoPoolsFileserver(t, name, fmt.Sprintf(text, "2s"))
		})
	}
}

// runTwoPoolsFileserver runs the two-pool experiment text on system and
// checks the outcome.
func runTwoPoolsFileserver(t *testing.T, system, text string) {
	_, exp := writeExperiment(t, text)
	point := "system=" + system + "/pools=2"
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
	row := run.Table().Lookup(point, results.MetricThroughput)
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
	if collectorRan(res, "lockwait") && run.Table().Lookup(point, "lock_wait_seconds{backend=bpftrace}") == nil &&
		run.Table().Lookup(point, "lock_wait_seconds{backend=ftrace}") == nil {
		t.Errorf("lockwait collector ran but no lock_wait_seconds in the summary: %v", run.Table().Metrics())
	}
	if !strings.Contains(stdout.String(), point) {
		t.Errorf("summary table lacks the point:\n%s", stdout.String())
	}
	// Collector overhead is one series per collector, a sample per repetition.
	if row := run.Table().Lookup(point, "collector_overhead_cores{collector=cpu}"); row == nil || row.N != 2 {
		t.Errorf("collector_overhead_cores{collector=cpu}: %+v; want one series with 2 samples", row)
	}
	if slices.Contains(metrics.Names(), "userlock") {
		if system == "D" || system == "F" {
			// The filesystem services (D's, and F's, which serve only
			// FUSE) report their lock waits: one sample per repetition.
			if row := run.Table().Lookup(point, "user_lock_wait_seconds"); row == nil || row.N != 2 {
				t.Errorf("user_lock_wait_seconds: %+v; want 2 samples (metrics %v)", row, run.Table().Metrics())
			}
		} else {
			userlockNoted(t, run, stdout.String())
		}
	}
	assertNothingLeft(t, work, os.Getpid())
	assertNoSegments(t, "p0", "p1")
}

// userlockNoted checks that a system without a filesystem service (K) made
// the userlock collector's note, stored once for both repetitions, in
// host.json and after the summary.
func userlockNoted(t *testing.T, run *results.Run, stdout string) {
	t.Helper()
	var found bool
	for _, n := range run.Info.Notes {
		if strings.HasPrefix(n.Text, "collector userlock:") {
			found = true
			if n.Count != 2 || strings.Contains(n.Text, "<nil>") {
				t.Errorf("userlock note %+v: want 2 repetitions and a reason", n)
			}
		}
	}
	if !found || !strings.Contains(stdout, "notes (also in") {
		t.Errorf("host.json notes %+v / summary without the userlock note:\n%s", run.Info.Notes, stdout)
	}
}

// assertNoSegments checks that no System V segment of the named pools'
// services is left in our IPC namespace (/proc/sysvipc/shm, what ipcs -m
// lists). The pools' own IPC namespaces die with their last process, which
// assertNothingLeft checks is gone.
func assertNoSegments(t *testing.T, pools ...string) {
	t.Helper()
	data, err := os.ReadFile("/proc/sysvipc/shm")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, p := range pools {
		keys[fmt.Sprint(wire.SegmentKey(p))] = p
	}
	for _, line := range strings.Split(string(data), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 1 && keys[f[0]] != "" {
			t.Errorf("segment of pool %s left on the host: shmid %s", keys[f[0]], f[1])
		}
	}
}

// collectorRan reports whether a registered collector started in every
// repetition (no note says it had nothing to report).
func collectorRan(res *Outcome, name string) bool {
	if !slices.Contains(metrics.Names(), name) {
		return false
	}
	for _, po := range res.Points {
		for _, rep := range po.Repetitions {
			for _, n := range rep.Notes {
				if strings.HasPrefix(n, "collector "+name+":") {
					return false
				}
			}
		}
	}
	return true
}

// TestRunNoiseStopsWithMain runs a main workload beside a noise workload in
// its own pool whose own duration is far longer: the runner must stop the
// noise as soon as the main workload is done and keep both results.
func TestRunNoiseStopsWithMain(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, `
name = "noise"
systems = ["K"]
[options.K]
size = "256M"
[run]
repetitions = { min = 1, max = 1 }
warmup = "10ms"
duration = "2s"
collectors = ["cpu"]
[pools]
count = [2]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
pools = "first"
[workload.params]
nfiles = 40
filesize = "8KiB"
nthreads = 2
[[workload]]
name = "seqwrite"
role = "noise"
pools = "rest"
[workload.params]
iosize = "64KiB"
nthreads = 1
wrap_size = "32MiB"
duration = "10m"
`)
	work := t.TempDir()
	var stderr bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), WorkDir: work, AgentBinary: polytroponBin, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr.String())
	}
	rep := res.Points[0].Repetitions[0]
	if rep.Wall > 2*time.Minute {
		t.Errorf("repetition took %v: the noise was not stopped with the main workload", rep.Wall)
	}
	roles := map[string]int{}
	for _, in := range rep.Instances {
		roles[in.Role]++
		if in.Result == nil || in.Result.Ops == 0 {
			t.Errorf("%s instance in pool %d did no work", in.Role, in.Pool)
		}
		if want := map[string]int{"main": 0, "noise": 1}[in.Role]; in.Pool != want {
			t.Errorf("%s instance ran in pool %d, want %d", in.Role, in.Pool, want)
		}
	}
	if roles["main"] != 1 || roles["noise"] != 1 {
		t.Errorf("instances by role: %v, want one main and one noise", roles)
	}
	assertNothingLeft(t, work, os.Getpid())
}

// TestRunSharedLowerClones runs fileappend in two clones of one pool on
// K/K: the runner prepares the file once in the shared lower image, each
// clone appends through its own overlay (copy-up).
func TestRunSharedLowerClones(t *testing.T) {
	requireHarness(t)
	if s, _ := systems.Lookup("K/K"); s == nil || s.Check() != nil {
		t.Skip("K/K unavailable here")
	}
	_, exp := writeExperiment(t, `
name = "clones"
systems = ["K/K"]
[options."K/K"]
size = "256M"
[run]
repetitions = { min = 1, max = 1 }
warmup = "1ms"
duration = "20s"
collectors = ["memory"]
main_metric = "elapsed_s"
[pools]
count = [1]
cores_per_pool = 1
memory = "1GiB"
containers = 2
shared_lower = true
[[workload]]
name = "fileappend"
[workload.params]
file = "data/big"
filesize = "4MiB"
append_size = "256KiB"
iosize = "64KiB"
appends = 2
create = true
`)
	work := t.TempDir()
	var stderr bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), WorkDir: work, AgentBinary: polytroponBin, Stderr: &stderr})
	if err != nil {
		t.Fatalf("Run: %v\n%s", err, stderr.String())
	}
	insts := res.Points[0].Repetitions[0].Instances
	if len(insts) != 2 {
		t.Fatalf("instances: %d, want 2 clones", len(insts))
	}
	for _, in := range insts {
		if in.Result == nil || in.Result.Ops != 2 {
			t.Errorf("clone %d: result %+v, want 2 appends", in.Container, in.Result)
		}
	}
	assertNothingLeft(t, work, os.Getpid())
}

// TestRunRepetitionTimeout checks that run.timeout ends a repetition that
// runs too long: the point fails with a clear error, everything is torn
// down and the run goes on.
func TestRunRepetitionTimeout(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, `
name = "timeout"
systems = ["K"]
[options.K]
size = "16G"
[run]
repetitions = { min = 1, max = 1 }
warmup = "1ms"
duration = "1s"
timeout = "3s"
collectors = ["cpu"]
[pools]
count = [1]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
[workload.params]
# Preparing two million files takes far longer than the timeout.
nfiles = 2000000
filesize = "0"
prealloc = 100
nthreads = 1
`)
	work := t.TempDir()
	start := time.Now()
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), WorkDir: work, AgentBinary: polytroponBin})
	if !errors.Is(err, ErrPointsFailed) {
		t.Fatalf("Run: got %v, want ErrPointsFailed", err)
	}
	t.Logf("point error: %v", res.Points[0].Err)
	if perr := res.Points[0].Err; perr == nil || !strings.Contains(perr.Error(), "timed out") {
		t.Errorf("point error: %v, want one saying the repetition timed out", perr)
	}
	if d := time.Since(start); d > time.Minute {
		t.Errorf("run took %v after a 3s timeout", d)
	}
	assertNothingLeft(t, work, os.Getpid())
}

// TestRunNeedsRoot runs the binary as an unprivileged user.
func TestRunNeedsRoot(t *testing.T) {
	requireHarness(t)
	dir, err := os.MkdirTemp("", "polytropon-noroot-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.Chmod(filepath.Dir(polytroponBin), 0o755)
	exp := filepath.Join(dir, "exp.toml")
	if err := os.WriteFile(exp, []byte(fmt.Sprintf(twoPoolsFileserver, "1s")), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(polytroponBin, "run", "-out", filepath.Join(dir, "out"), exp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "must run as root") {
		t.Fatalf("as nobody: err %v, output %q; want a failure saying it must run as root", err, out)
	}
}

// unavailableSystem is registered only in this test binary: a system whose
// Check fails, as D does on a host without its service.
type unavailableSystem struct{}

func (unavailableSystem) Name() string    { return "Unavailable-test" }
func (unavailableSystem) NewOptions() any { return nil }
func (unavailableSystem) Check() error {
	return fmt.Errorf("%w: needs the frobnicator (apt-get install frob)", systems.ErrUnavailable)
}
func (unavailableSystem) Setup(context.Context, systems.Pool, systems.Request) (systems.Instance, error) {
	return nil, errors.New("Setup of an unavailable system")
}

func init() { systems.Register(unavailableSystem{}) }

func TestRunSkipsUnavailableSystem(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, unavailableOnly)
	var stdout bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), AgentBinary: polytroponBin, Stdout: &stdout, GoOn: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	po := res.Points[0]
	if !strings.Contains(po.Skipped, "frobnicator") || len(po.Repetitions) != 0 {
		t.Fatalf("point: skipped %q with %d repetitions; want skipped with the reason", po.Skipped, len(po.Repetitions))
	}
	if !strings.Contains(stdout.String(), "skipped: ") {
		t.Errorf("summary does not show the skip:\n%s", stdout.String())
	}
	run, _, err := results.Open(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(run.Records) != 1 || run.Records[0].Kind != results.KindSkipped || !strings.Contains(run.Records[0].Reason, "frobnicator") {
		t.Errorf("records: %+v; want one skipped record with the reason", run.Records)
	}
	sum, err := os.ReadFile(filepath.Join(res.Dir, results.SummaryFile))
	if err != nil || !strings.Contains(string(sum), "skipped: ") || !strings.Contains(string(sum), "frobnicator") {
		t.Errorf("summary.csv does not say why the point has no numbers (%v):\n%s", err, sum)
	}
}

// TestRunCephBackendSkipsK: K runs on the local backend only (the ceph
// backend needs a kernel CephFS client, K-ceph); told to go on, the run
// skips the point, it does not fail it.
func TestRunCephBackendSkipsK(t *testing.T) {
	requireHarness(t)
	conf := filepath.Join(t.TempDir(), "ceph.conf")
	os.WriteFile(conf, []byte("[global]\n"), 0o644)
	_, exp := writeExperiment(t, fmt.Sprintf(`
name = "cephk"
systems = ["K"]
backend = "ceph"
[ceph]
conf = %q
[run]
repetitions = { min = 1, max = 1 }
collectors = ["cpu"]
[pools]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
`, conf))
	work := t.TempDir()
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), WorkDir: work, AgentBinary: polytroponBin, GoOn: true})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if po := res.Points[0]; !strings.Contains(po.Skipped, "runs on the local backend") || !strings.Contains(po.Skipped, "K-ceph") || po.Err != nil {
		t.Fatalf("point: skipped %q, err %v; want skipped because K runs on the local backend (naming the ceph ones)", po.Skipped, po.Err)
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
	// Interrupt inside the second repetition, once its agents, pool cgroups
	// and loop devices exist, so that the leftover check below is not blind.
	deadline = time.Now().Add(90 * time.Second)
	for len(agentPIDs()) == 0 || len(poolCgroups(cmd.Process.Pid)) == 0 || len(loopsUnder(t, work)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the second repetition has no agent, pool cgroup or loop device after 90s (agents %v, cgroups %v, loops %v)\nstderr:\n%s",
				agentPIDs(), poolCgroups(cmd.Process.Pid), loopsUnder(t, work), stderr.String())
		}
		select {
		case err := <-done:
			t.Fatalf("run ended before the interrupt: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
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
	if plots, _ := filepath.Glob(filepath.Join(runDir, results.PlotsDir, "it-throughput.*")); len(plots) == 0 {
		t.Errorf("no plot of the finished repetition")
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
	if cg := poolCgroups(runnerPid); len(cg) > 0 {
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
	if loops := loopsUnder(t, work); len(loops) > 0 {
		t.Errorf("loop devices left: %v", loops)
	}
	if pids := polytroponPIDs(""); len(pids) > 0 {
		t.Errorf("processes of polytropon left (agents, services, pool engines): %v", pids)
	}
	if ents, _ := os.ReadDir(work); len(ents) > 0 {
		t.Errorf("work dir not emptied: %v", ents)
	}
}

// agentPIDs lists running `polytropon _agent` processes of the test binary.
func agentPIDs() []string { return polytroponPIDs("_agent") }

// polytroponPIDs lists running processes of the test's polytropon binary
// whose subcommand is sub; sub "" lists every process of that binary
// (agents, services, `polytropon run`) and every other process of this test
// binary (the in-process runner's pool engines re-execute it).
func polytroponPIDs(sub string) []string {
	self, _ := os.Executable()
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		exe, _ := os.Readlink(filepath.Join(p, "exe"))
		exe = strings.TrimSuffix(exe, " (deleted)")
		data, err := os.ReadFile(filepath.Join(p, "cmdline"))
		engine := sub == "" && exe == self && filepath.Base(p) != fmt.Sprint(os.Getpid())
		if err != nil || exe != polytroponBin && !engine {
			continue
		}
		if args := strings.Split(string(data), "\x00"); sub == "" || len(args) > 1 && args[1] == sub {
			out = append(out, filepath.Base(p)+" "+strings.Join(args, " "))
		}
	}
	return out
}

// loopsUnder lists loop devices whose backing file is under dir.
func loopsUnder(t *testing.T, dir string) []string {
	t.Helper()
	lo, err := exec.Command("losetup", "--list", "--noheadings", "--raw", "-O", "NAME,BACK-FILE").Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(lo), "\n") {
		if strings.Contains(line, dir) {
			out = append(out, line)
		}
	}
	return out
}

// poolCgroups lists the cgroup directories of a runner's pools.
func poolCgroups(runnerPid int) []string {
	cg, _ := filepath.Glob(fmt.Sprintf("/sys/fs/cgroup/*/polytropon/run-*-%d", runnerPid))
	return cg
}
