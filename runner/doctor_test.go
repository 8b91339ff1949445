package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/internal/testenv"
	"polytropon/runner/config"
	"polytropon/systems"
)

// availableSystem is registered only in this test binary: a system whose
// Check passes and that runs on any backend, so the doctor's verdicts on
// workloads and clusters are seen alone.
type availableSystem struct{}

func (availableSystem) Name() string    { return "Available-test" }
func (availableSystem) NewOptions() any { return nil }
func (availableSystem) Check() error    { return nil }
func (availableSystem) Setup(context.Context, systems.Pool, systems.Request) (systems.Instance, error) {
	return nil, errors.New("Setup of a system that only the doctor looks at")
}

func init() { systems.Register(availableSystem{}) }

// loadExperiment writes text as an experiment file and loads it.
func loadExperiment(t *testing.T, text string) *config.Experiment {
	t.Helper()
	exp, err := config.Load(testenv.WriteFile(t, "exp.toml", text))
	if err != nil {
		t.Fatalf("load experiment: %v", err)
	}
	return exp
}

// verdicts maps each point's system to its check.
func verdicts(d *Diagnosis) map[string]PointCheck {
	out := map[string]PointCheck{}
	for _, pc := range d.Points {
		out[pc.Point.System] = pc
	}
	return out
}

func hostItem(t *testing.T, d *Diagnosis, name string) hostcheck.Item {
	t.Helper()
	for _, it := range d.Host {
		if it.Name == name {
			return it
		}
	}
	t.Fatalf("the doctor does not list %q", name)
	return hostcheck.Item{}
}

// TestDoctorMissingTool: with stress-ng not in $PATH, a point whose
// workload runs it will fail (the agent could not start it), and the host
// list says which package to install.
func TestDoctorMissingTool(t *testing.T) {
	testenv.RequireRoot(t, "the doctor's verdicts are those of a root run")
	exp := loadExperiment(t, `
name = "tool"
systems = ["Available-test"]
[pools]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "randomio"
`)
	t.Setenv("PATH", t.TempDir())
	d := Doctor(t.Context(), exp)
	pc := verdicts(d)["Available-test"]
	if pc.Verdict != WillFail || !strings.Contains(pc.Why, "stress-ng") || !strings.Contains(pc.Why, "apt-get install stress-ng") {
		t.Errorf("point %s: %s %q; want fail naming stress-ng and its package", pc.Point.Name(), pc.Verdict, pc.Why)
	}
	if it := hostItem(t, d, "stress-ng"); it.OK || it.Fix != "apt-get install stress-ng" || !strings.Contains(it.For, "randomio") {
		t.Errorf("host item %+v; want stress-ng missing, for randomio, with its fix", it)
	}
	if len(d.Blocked()) != 1 || d.Estimate.Points != 0 {
		t.Errorf("blocked %v, estimate over %d points; want the one point blocked and not estimated", d.Blocked(), d.Estimate.Points)
	}
}

// TestDoctorMissingKernelFeature: on a kernel without overlayfs, K/K is
// skipped and says why, K still runs, and the host list gives the fix.
func TestDoctorMissingKernelFeature(t *testing.T) {
	testenv.RequireRoot(t, "K's Check needs root")
	for _, s := range []string{"K", "K/K"} {
		if sys, err := systems.Lookup(s); err != nil || sys.Check() != nil {
			t.Skipf("system %s cannot run on this host to begin with: %v", s, err)
		}
	}
	procFS := testenv.WriteFile(t, "filesystems", "nodev\tsysfs\nnodev\ttmpfs\n\text4\nnodev\tfuse\n")
	defer func(p string) { hostcheck.ProcFilesystems = p }(hostcheck.ProcFilesystems)
	hostcheck.ProcFilesystems = procFS
	exp := loadExperiment(t, `
name = "kernel"
systems = ["K", "K/K"]
[pools]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "fileserver"
`)
	d := Doctor(t.Context(), exp)
	v := verdicts(d)
	if pc := v["K/K"]; pc.Verdict != WillSkip || !strings.Contains(pc.Why, "overlay") {
		t.Errorf("K/K: %s %q; want skipped for lack of overlay", pc.Verdict, pc.Why)
	}
	if pc := v["K"]; pc.Verdict != WillRun {
		t.Errorf("K: %s %q; want run (ext4 is there)", pc.Verdict, pc.Why)
	}
	if it := hostItem(t, d, "kernel overlay filesystem"); it.OK || !strings.Contains(it.Fix, "modprobe overlay") || !strings.Contains(it.For, "K/K") {
		t.Errorf("host item %+v; want overlay missing, for K/K, with modprobe overlay", it)
	}
	if it := hostItem(t, d, "kernel ext4 filesystem"); !it.OK {
		t.Errorf("host item %+v; want ext4 ok", it)
	}
}

// TestDoctorMissingCluster: on the ceph backend a point needs a cluster
// that answers. None configured: skipped; a conf whose monitor does not
// answer (a dead port, a port that is no monitor) or that does not exist:
// it would fail. Each answer comes fast, without a cluster.
func TestDoctorMissingCluster(t *testing.T) {
	testenv.RequireRoot(t, "the doctor's verdicts are those of a root run")
	t.Setenv("CEPH_CONF", "")
	t.Setenv("POLYTROPON_CEPH_CONF", "")
	defer func(c string) { systems.DefaultCephConf = c }(systems.DefaultCephConf)
	systems.DefaultCephConf = filepath.Join(t.TempDir(), "no-cluster", "ceph.conf")
	const text = `
name = "cluster"
systems = ["Available-test"]
backend = "ceph"
%s
[pools]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "fileserver"
`
	conf := func(monHost string) string {
		return "[ceph]\nconf = " + fmt.Sprintf("%q", testenv.WriteFile(t, "ceph.conf", "[global]\nmon host = "+monHost+"\n"))
	}
	for _, tc := range []struct {
		name, ceph string
		want       Verdict
		why        string
	}{
		{"none configured", "", WillSkip, "no Ceph cluster configured"},
		{"conf missing", "[ceph]\nconf = \"/nonexistent/polytropon/ceph.conf\"", WillFail, "/nonexistent/polytropon/ceph.conf"},
		{"dead port", conf("[v2:" + testenv.DeadPort(t) + ",v1:" + testenv.DeadPort(t) + "]"), WillFail, "does not answer"},
		{"not a monitor", conf(testenv.FakeCephMonitor(t, "SSH-2.0-OpenSSH_9.2\r\n")), WillFail, "not a Ceph monitor"},
		{"a monitor", conf(testenv.FakeCephMonitor(t, "ceph v2\n")), WillRun, ""},
	} {
		exp := loadExperiment(t, fmt.Sprintf(text, tc.ceph))
		t0 := time.Now()
		d := Doctor(t.Context(), exp)
		took := time.Since(t0)
		pc := verdicts(d)["Available-test"]
		if pc.Verdict != tc.want || !strings.Contains(pc.Why, tc.why) {
			t.Errorf("%s: %s %q; want %s with %q", tc.name, pc.Verdict, pc.Why, tc.want, tc.why)
		}
		if it := hostItem(t, d, "Ceph cluster"); it.OK != (tc.want == WillRun) {
			t.Errorf("%s: host item %+v; want ok = %v", tc.name, it, tc.want == WillRun)
		}
		// CephDialTimeout bounds the dial; the rest is reading files.
		if limit := CephDialTimeout + 2*time.Second; took > limit {
			t.Errorf("%s: the doctor took %v, want under %v", tc.name, took, limit)
		}
	}
}

// TestDoctorEstimate: the wall time counts every point that will run at
// repetitions.min and .max, at least warm-up + duration per repetition,
// and leaves out the points that cannot run.
func TestDoctorEstimate(t *testing.T) {
	testenv.RequireRoot(t, "the doctor's verdicts are those of a root run")
	exp := loadExperiment(t, `
name = "estimate"
systems = ["Available-test", "Unavailable-test"]
[run]
repetitions = { min = 2, max = 5 }
warmup = "3s"
duration = "10s"
[pools]
count = [1, 2]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "fileserver"
`)
	d := Doctor(t.Context(), exp)
	e := d.Estimate
	if e.Points != 2 || len(d.Blocked()) != 2 {
		t.Fatalf("estimate over %d points with %d blocked; want the 2 points of Available-test, the 2 of Unavailable-test blocked", e.Points, len(d.Blocked()))
	}
	if floor := 2 * 2 * 13 * time.Second; e.Min < floor || e.Max != e.Min*5/2 {
		t.Errorf("estimate %v to %v; want at least %v (2 points x 2 repetitions x 13 s) and max = min x 5/2", e.Min, e.Max, floor)
	}
	if s := e.Span(); !strings.Contains(s, " to ") {
		t.Errorf("span %q; want min to max", s)
	}
}

// unavailableOnly is an experiment whose one point cannot run.
const unavailableOnly = `
name = "unavailable"
systems = ["Unavailable-test"]
[run]
repetitions = { min = 1, max = 1 }
[[workload]]
name = "fileserver"
`

// TestRunRefusesPointsThatCannotRun: Run checks first and refuses an
// experiment with a point that cannot run, listing it with the reason and
// creating nothing; with GoOn it runs (TestRunSkipsUnavailableSystem).
func TestRunRefusesPointsThatCannotRun(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, unavailableOnly)
	out := t.TempDir()
	var stderr strings.Builder
	res, err := Run(t.Context(), exp, Options{OutDir: out, AgentBinary: polytroponBin, Stderr: &stderr})
	if !errors.Is(err, ErrCannotRun) || res != nil {
		t.Fatalf("Run: %v, outcome %v; want ErrCannotRun and no outcome", err, res)
	}
	for _, want := range []string{"system=Unavailable-test/pools=1", "frobnicator", "-go-on"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q:\n%v", want, err)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("a refused run created %v in the output directory", entries)
	}
}
