package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"polytropon/internal/units"
	"polytropon/results"
)

func TestLoadGood(t *testing.T) {
	e, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Run.Repetitions, (Repetitions{2, 5}); got != want {
		t.Errorf("repetitions: got %+v, want %+v", got, want)
	}
	if got, want := e.Run.Duration.Duration, 3*time.Second; got != want {
		t.Errorf("duration: got %v, want %v", got, want)
	}
	if got, want := e.Pools.Memory, units.Size(1<<30); got != want {
		t.Errorf("memory: got %v, want %v", got, want)
	}
	if got, want := e.Options["D"]["cache"], any("2GiB"); got != want {
		t.Errorf("options.D.cache: got %q, want %q", got, want)
	}
	opts, err := e.SystemOptions("D")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := opts, (&fakeOptions{Cache: 2 << 30, Threads: 2, fakeService: fakeService{Pin: false, Wait: "futex"},
		Layer: fakeLayer{Capacity: 1e9, WriteThrough: true}, Client: map[string]any{"client_oc_size": int64(268435456), "rados_osd_op_timeout": "5"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("typed options.D: got %+v, want %+v", got, want)
	}
	if got, err := e.SystemOptions("K/K"); err != nil || !reflect.DeepEqual(got, &fakeOptions{Threads: 1, fakeService: fakeService{Pin: true}}) {
		t.Errorf("options of K/K without a table: got %+v, %v; want the defaults", got, err)
	}
	// Defaults filled.
	if e.Compare.Alpha != 0.05 || e.Compare.Test != "mann-whitney" || e.Plots[1].Series != "noise" || e.Plots[0].Series != "system" {
		t.Errorf("defaults not filled: compare %+v plots %+v", e.Compare, e.Plots)
	}
	pts := e.Points()
	if got, want := len(pts), 2*2*2*2; got != want {
		t.Fatalf("points: got %d, want %d", got, want)
	}
	if got, want := pts[0].Name(), "system=D/pools=1/noise=false/fakeio.threads=1"; got != want {
		t.Errorf("first point: got %q, want %q", got, want)
	}
	last := pts[len(pts)-1]
	if got, want := last.Name(), "system=K_K/pools=2/noise=true/fakeio.threads=16"; got != want {
		t.Errorf("last point: got %q, want %q", got, want)
	}
	if last.System != "K/K" || last.Pools != 2 || !last.Noise || last.Index != 15 {
		t.Errorf("last point fields: %+v", last)
	}
	w, err := e.Workloads[0].DecodeAt(last)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.(*fakeIO); got.Threads != 16 || got.FileSize != "8MiB" {
		t.Errorf("decoded at last point: got %+v, want threads 16 file_size 8MiB", got)
	}
	w, err = e.Workloads[0].Decode()
	if err != nil {
		t.Fatal(err)
	}
	if got := w.(*fakeIO); got.Threads != 4 {
		t.Errorf("decoded without sweep: got threads %d, want 4", got.Threads)
	}
	// Layout: noise only in pool 1 and only when noise=true.
	if got, want := e.Layout(last), []Placement{{0, 0, 0}, {0, 1, 0}, {1, 1, 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("layout at %s: got %v, want %v", last.Name(), got, want)
	}
	if got, want := e.Layout(pts[13]), []Placement{{0, 0, 0}, {0, 1, 0}}; !reflect.DeepEqual(got, want) {
		t.Errorf("layout at %s: got %v, want %v", pts[13].Name(), got, want)
	}
	if got := e.ContainersIn(last, 1); got != 2 {
		t.Errorf("containers in pool 1: got %d, want 2", got)
	}
}

func TestDefaults(t *testing.T) {
	e := parse(t, `name = "d"
systems = ["D"]
[[workload]]
name = "fakeio"
`)
	e.EnsureDefaults()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	if e.Run.Repetitions != DefaultRepetitions || e.Run.CITarget != 0.05 || e.Run.MainMetric != results.MetricThroughput ||
		e.Run.Duration.Duration != DefaultDuration || e.Pools.Memory != 8<<30 || e.Pools.CoresPerPool != 2 ||
		!reflect.DeepEqual(e.Pools.Count, IntList{1}) || e.Workloads[0].Role != "main" || e.Backend != "local" {
		t.Errorf("defaults: got %+v", e)
	}
	before := *e
	e.EnsureDefaults()
	if !reflect.DeepEqual(before.Run, e.Run) || !reflect.DeepEqual(before.Pools, e.Pools) {
		t.Errorf("EnsureDefaults not idempotent")
	}
	// Scalar pool count, min only.
	e = parse(t, "name = \"d\"\nsystems = [\"D\"]\n[run]\nrepetitions = {min = 12}\n[pools]\ncount = 4\n[[workload]]\nname = \"fakeio\"\n")
	e.EnsureDefaults()
	if e.Run.Repetitions != (Repetitions{12, 12}) || !reflect.DeepEqual(e.Pools.Count, IntList{4}) {
		t.Errorf("got repetitions %+v count %v", e.Run.Repetitions, e.Pools.Count)
	}
}

// TestCephConfDefault: on the ceph backend the conf comes from the file,
// else $CEPH_CONF, else $POLYTROPON_CEPH_CONF; none at all is valid (the
// systems then look for polytropon ceph up's cluster, and the pre-run
// check says when there is none).
func TestCephConfDefault(t *testing.T) {
	const text = "name = \"c\"\nsystems = [\"D\"]\nbackend = \"ceph\"\n[[workload]]\nname = \"fakeio\"\n"
	for _, tc := range []struct{ file, cephConf, polyConf, want string }{
		{"", "", "", ""},
		{"", "", "/p/ceph.conf", "/p/ceph.conf"},
		{"", "/c/ceph.conf", "/p/ceph.conf", "/c/ceph.conf"},
		{"/f/ceph.conf", "/c/ceph.conf", "/p/ceph.conf", "/f/ceph.conf"},
	} {
		t.Setenv("CEPH_CONF", tc.cephConf)
		t.Setenv("POLYTROPON_CEPH_CONF", tc.polyConf)
		src := text
		if tc.file != "" {
			src += "[ceph]\nconf = \"" + tc.file + "\"\n"
		}
		e := parse(t, src)
		e.EnsureDefaults()
		if err := e.Validate(); err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if e.Ceph.Conf != tc.want {
			t.Errorf("file %q, $CEPH_CONF %q, $POLYTROPON_CEPH_CONF %q: conf %q, want %q", tc.file, tc.cephConf, tc.polyConf, e.Ceph.Conf, tc.want)
		}
	}
}

func parse(t *testing.T, text string) *Experiment {
	t.Helper()
	e, err := Parse("x.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

const base = `name = "bad"
systems = ["D"]
[run]
duration = "2s"
[pools]
count = [1, 2]
[[workload]]
name = "fakeio"
`

// TestBadFiles checks that every kind of mistake is reported with the
// file, the line where the file has one, and the key path.
func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string // substrings of the error
	}{
		{"syntax", "name = \"x\"\nsystems = [\"D\"\n[run]\n", []string{"x.toml:3:"}},
		{"unknown top-level key", "name = \"x\"\nsystem = [\"D\"]\n", []string{"x.toml:2:", `unknown key "system"`}},
		{"unknown nested key", base + "[compare]\nthreshhold = 0.1\n", []string{"x.toml:10:", `"compare.threshhold"`}},
		{"unknown key in run", strings.Replace(base, "[run]\n", "[run]\nwarmupp = \"1s\"\n", 1), []string{"x.toml:4:", `"run.warmupp"`}},
		{"unknown key in inline table", strings.Replace(base, "[run]\n", "[run]\nrepetitions = {min = 1, mx = 3}\n", 1), []string{"x.toml:4:", `"run.repetitions.mx"`}},
		{"unknown key in workload", base + "instance = 2\n", []string{"x.toml:9:", `"workload.instance"`}},
		{"unknown table", base + "[ceph2]\nconf = \"x\"\n", []string{"x.toml:9:", `unknown key "ceph2"`}},
		{"wrong type", strings.Replace(base, "[pools]\n", "[pools]\ncores_per_pool = \"two\"\n", 1), []string{"x.toml:6:", "cores_per_pool"}},
		{"wrong type in list", strings.Replace(base, "count = [1, 2]", "count = [1, \"2\"]", 1), []string{"x.toml:6:", "want an integer"}},
		{"bad duration", strings.Replace(base, `duration = "2s"`, `duration = "2 parsecs"`, 1), []string{"x.toml:4:", `bad duration "2 parsecs"`}},
		{"duration without unit", strings.Replace(base, `duration = "2s"`, `duration = 20`, 1), []string{"x.toml:4:", `bad duration "20"`}},
		{"bad size", strings.Replace(base, "[pools]\n", "[pools]\nmemory = \"8 gigs\"\n", 1), []string{"x.toml:6:", `bad size "8 gigs"`}},
		{"pools zero", strings.Replace(base, "count = [1, 2]", "count = [0, 2]", 1), []string{"x.toml:6:", "pools.count[0]", "want 1..32"}},
		{"pools too many", strings.Replace(base, "count = [1, 2]", "count = 33", 1), []string{"pools.count[0]", "33 pools"}},
		{"empty systems", strings.Replace(base, `systems = ["D"]`, `systems = []`, 1), []string{"x.toml:2:", "systems: empty"}},
		{"missing systems", strings.Replace(base, `systems = ["D"]`, ``, 1), []string{"systems: empty"}},
		{"unknown system", strings.Replace(base, `systems = ["D"]`, `systems = ["D", "Q"]`, 1), []string{"systems[1]", `unknown system "Q"`}},
		{"unknown workload", strings.Replace(base, `name = "fakeio"`, `name = "fakeoi"`, 1), []string{"x.toml:8:", "workload[0].name", `unknown workload "fakeoi"`}},
		{"unknown collector", strings.Replace(base, "[run]\n", "[run]\ncollectors = [\"fakecpu\", \"nope\"]\n", 1), []string{"run.collectors[1]", `unknown collector "nope"`}},
		{"min > max", strings.Replace(base, "[run]\n", "[run]\nrepetitions = {min = 5, max = 3}\n", 1), []string{"x.toml:4:", "run.repetitions: min 5 > max 3"}},
		{"ci target", strings.Replace(base, "[run]\n", "[run]\nci_target = 5.0\n", 1), []string{"run.ci_target"}},
		{"timeout too short", strings.Replace(base, "[run]\n", "[run]\ntimeout = \"1s\"\n", 1), []string{"run.timeout"}},
		{"plot unknown metric", base + "[[plot]]\ny = \"throughput_furlongs\"\nfile = \"p\"\n", []string{"x.toml:10:", "plot[0].y", `metric "throughput_furlongs" is produced by neither`, "nearest: throughput_mbps"}},
		// A metric that a registered collector writes, but none the file runs: never produced.
		{"plot of a metric never produced", strings.Replace(base, "[run]\n", "[run]\ncollectors = [\"fakecpu\"]\n", 1) + "[[plot]]\ny = \"lock_wait_seconds\"\nfile = \"p\"\n", []string{"x.toml:11:", "plot[0].y",
			`metric "lock_wait_seconds" is produced by neither the workloads nor the collectors [fakecpu]`, "nearest:"}},
		{"compare metric never produced", strings.Replace(base, "[run]\n", "[run]\ncollectors = [\"fakecpu\"]\n", 1) + "[compare]\nmetrics = [\"cpu_steal_ratio\"]\n", []string{"x.toml:11:", "compare.metrics[0]", `"cpu_steal_ratio" is produced by neither`}},
		{"plot of a series without its label", base + "[[plot]]\ny = \"cpu_core_busy_seconds\"\nfile = \"p\"\n", []string{"plot[0].y", "one series per core", "cpu_core_busy_seconds{core=...}"}},
		{"plot of an undeclared label", base + "[[plot]]\ny = \"cpu_seconds{core=1}\"\nfile = \"p\"\n", []string{"plot[0].y", `has no label "core"`}},
		{"plot of a host value that has none", base + "[[plot]]\ny = \"cpu_seconds@host\"\nfile = \"p\"\n", []string{"plot[0].y", "no @host value"}},
		{"plot of a pool that is never there", base + "[[plot]]\ny = \"cpu_seconds@p2\"\nfile = \"p\"\n", []string{"plot[0].y", "pool 2 does not exist"}},
		{"plot of a host-only metric per pool", base + "[[plot]]\ny = \"host_iowait_seconds@p0\"\nfile = \"p\"\n", []string{"plot[0].y", "host-wide only"}},
		{"plot of a per-pool-only metric", base + "[[plot]]\ny = \"service_lock_wait_seconds{service=0}\"\nfile = \"p\"\n", []string{"plot[0].y", "per-pool values only"}},
		{"plot of an unknown noise workload", base + "[[plot]]\ny = \"randomio.ops_per_sec\"\nfile = \"p\"\n", []string{"plot[0].y", `"randomio" is not a noise workload`}},
		{"plot of a latency kind the workload never reports", strings.Replace(base, `name = "fakeio"`, "name = \"rocksdb\"\n[workload.params]\nmode = \"put\"", 1) + "[[plot]]\ny = \"latency_p99_us:put\"\nfile = \"p\"\n", []string{"plot[0].y", `no op kind "put": the workloads report latency of [write]`}},
		{"plot of pv without tenants", base + "[[plot]]\ny = \"pv\"\nfile = \"p\"\n", []string{"plot[0].y", "needs [tenants] weights"}},
		{"plot unknown axis", base + "[[plot]]\nx = \"threads\"\nfile = \"p\"\n", []string{"plot[0].x", `"threads"`}},
		{"plot bad kind", base + "[[plot]]\nkind = \"pie\"\nfile = \"p\"\n", []string{"plot[0].kind", `"pie"`}},
		{"plot duplicate file", base + "[[plot]]\nfile = \"p\"\n[[plot]]\nfile = \"p\"\n", []string{"plot[1].file", "already used"}},
		{"main metric unknown", strings.Replace(base, "[run]\n", "[run]\nmain_metric = \"speed\"\n", 1), []string{"run.main_metric", `"speed"`}},
		{"unknown param", base + "[workload.params]\nthreads = 2\nthreadz = 3\n", []string{"x.toml:11:", "workload[0].params.threadz", "unknown param"}},
		{"param wrong type", base + "[workload.params]\nthreads = \"many\"\n", []string{"x.toml:10:", "workload[0].params.threads"}},
		{"param fails workload validation", base + "[workload.params]\nthreads = 0\n", []string{"workload[0].params", "threads must be at least 1"}},
		{"sweep of unknown param", base + "[[sweep]]\nparam = \"fakeio.threadz\"\nvalues = [1]\n", []string{"x.toml:10:", "has no param \"threadz\""}},
		{"sweep of unknown workload", base + "[[sweep]]\nparam = \"other.threads\"\nvalues = [1]\n", []string{"sweep[0].param", `"other.threads"`}},
		{"sweep wrong value", base + "[[sweep]]\nparam = \"containers\"\nvalues = [1, \"two\"]\n", []string{"sweep[0].values[1]"}},
		{"sweep empty", base + "[[sweep]]\nparam = \"noise\"\nvalues = []\n", []string{"sweep[0].values: empty"}},
		{"no main workload", base + "role = \"noise\"\n", []string{"no workload has role \"main\""}},
		{"bad role", base + "role = \"boss\"\n", []string{"workload[0].role", `"boss"`}},
		{"pool index out of range", base + "pools = [0, 5]\n", []string{"workload[0].pools", "pool index 5"}},
		{"bad pool keyword", base + "pools = \"some\"\n", []string{"x.toml:9:", `bad pool selector "some"`}},
		{"no workloads", strings.Replace(base, "[[workload]]\nname = \"fakeio\"\n", "", 1), []string{"no [[workload]] tables"}},
		{"tenant weights count", base + "[tenants]\nweights = [100, 200, 400]\n", []string{"tenants.weights", "3 weights for 1 pools"}},
		{"tenant weight range", strings.Replace(base, "count = [1, 2]", "count = 2", 1) + "[tenants]\nweights = [0, 200]\n", []string{"tenants.weights[0]"}},
		{"tenant policy", strings.Replace(base, "count = [1, 2]", "count = 1", 1) + "[tenants]\nweights = [1]\npolicy = \"fair\"\n", []string{"tenants.policy"}},
		{"proportionality without tenants", base + "[[plot]]\nkind = \"proportionality\"\nfile = \"p\"\n", []string{"plot[0].kind", "[tenants]"}},
		{"options for unlisted system", base + "[options.K]\nx = \"1\"\n", []string{"options.K"}},
		{"unknown system option", base + "[options.D]\ncolour = \"red\"\n", []string{"x.toml:10:", "options.D.colour", `unknown option of system "D"`,
			"have cache, threads, pin, wait, cache_capacity, cache_write_through, client_*, rados_*"}},
		{"system option wrong type", base + "[options.D]\npin = true\nthreads = \"many\"\n", []string{"x.toml:11:", "options.D.threads"}},
		{"system option bad size", base + "[options.D]\ncache = \"lots\"\n", []string{"x.toml:10:", "options.D.cache", `bad size "lots"`}},
		{"prefixed option wrong type", base + "[options.D]\ncache_capacity = \"lots\"\n", []string{"x.toml:10:", "options.D.cache_capacity", `bad size "lots"`}},
		{"unknown prefixed option", base + "[options.D]\ncache_colour = 1\n", []string{"x.toml:10:", "options.D.cache_colour", "unknown option"}},
		{"system option fails validation", base + "[options.D]\nthreads = 0\n", []string{"x.toml:9:", "options.D", "threads must be at least 1"}},
		{"options of a system without options", strings.Replace(base, `systems = ["D"]`, `systems = ["D", "K-ceph"]`, 1) + "[options.\"K-ceph\"]\nx = 1\n", []string{"x.toml:10:", `options.K-ceph.x: system "K-ceph" takes no options`}},
		{"bad backend", strings.Replace(base, `systems = ["D"]`, "systems = [\"D\"]\nbackend = \"nfs\"", 1), []string{"x.toml:3:", "backend"}},
		{"compare alpha", base + "[compare]\nalpha = 1.5\n", []string{"x.toml:10:", "compare.alpha"}},
		{"compare test", base + "[compare]\ntest = \"ks\"\n", []string{"compare.test"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CEPH_CONF", "")
			path := filepath.Join(t.TempDir(), "x.toml")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatalf("Load accepted:\n%s", tc.text)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			msg := strings.ReplaceAll(err.Error(), path, "x.toml")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

func TestSizesAndDurations(t *testing.T) {
	// Experiment sizes are units.Size: the one rule of every table.
	for in, want := range map[string]units.Size{"8GiB": 8 << 30, "512MiB": 512 << 20, "1GB": 1e9, "4k": 4096, "4096": 4096, "1.5KiB": 1536, "10B": 10} {
		got, err := units.ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "GiB", "8 gigs", "1.3B", "-1k", "99999999999TiB"} {
		if _, err := units.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) accepted", in)
		}
	}
	if got := units.Size(8 << 30).String(); got != "8GiB" {
		t.Errorf("String: got %q, want 8GiB", got)
	}
	var d Duration
	if err := d.UnmarshalText([]byte("-3s")); err == nil {
		t.Errorf("negative duration accepted")
	}
}

// TestResolvedConfigRoundTrip checks that the resolved config written next
// to the results decodes strictly back to the same experiment.
func TestResolvedConfigRoundTrip(t *testing.T) {
	e, err := Load("testdata/good.toml")
	if err != nil {
		t.Fatal(err)
	}
	text, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Parse("resolved.toml", text)
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	back.EnsureDefaults()
	if err := back.Validate(); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Run, e.Run) || !reflect.DeepEqual(back.Pools, e.Pools) || !reflect.DeepEqual(back.Plots, e.Plots) ||
		!reflect.DeepEqual(back.Compare, e.Compare) || back.Workloads[1].Pools.String() != "[1]" ||
		!reflect.DeepEqual(back.Points(), e.Points()) {
		t.Errorf("round trip changed the experiment:\n%s", text)
	}
}

// TestCheckedInExperiments loads and validates every experiments/*.toml.
// Their [options.<system>] tables are the real systems': runner's
// TestCheckedInExperimentOptions decodes them with those, so here they
// stay raw.
func TestCheckedInExperiments(t *testing.T) {
	defer func(f func(string) any) { NewSystemOptions = f }(NewSystemOptions)
	NewSystemOptions = nil
	files, err := filepath.Glob("../../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiment files found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Setenv("CEPH_CONF", "/etc/ceph/ceph.conf")
			for _, scale := range ScaleNames {
				e, err := LoadScale(f, scale)
				if err != nil {
					t.Fatalf("scale %s: %v", scale, err)
				}
				if len(e.Points()) == 0 {
					t.Errorf("scale %s: no points", scale)
				}
			}
		})
	}
}

// TestMetricsThatAreProduced: the names an experiment may plot, with
// labels, tags left out, and pool and host suffixes.
func TestMetricsThatAreProduced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.toml")
	text := strings.Replace(base, "[run]\n", "[run]\ncollectors = [\"cpu\", \"lockwait\", \"steal\", \"psi\", \"fakecpu\"]\n", 1) +
		"[[workload]]\nname = \"fakenoise\"\nrole = \"noise\"\n"
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"throughput_mbps", "throughput_mbps@p1", "latency_p99_us:put", "counter:fsync_count", "fakenoise.ops_per_sec",
		"lock_wait_seconds", "lock_wait_seconds{backend=ftrace}", "lock_wait_seconds@host", "lock_wait_seconds@p1",
		"lock_wait_type_seconds{type=mutex}", "cpu_core_busy_seconds{core=0}", "host_iowait_seconds", "cpu_steal_ratio@p0",
		"psi_avg10{kind=some,resource=io}", "collector_overhead_cores{collector=cpu}", "collector_overhead_bpf_run_seconds{collector=lockwait}",
		"fake_cpu_seconds"} {
		if msg := e.MetricProblem(m); msg != "" {
			t.Errorf("%s: %s", m, msg)
		}
	}
}

// TestUndeclaredCollector: a collector that does not declare its metrics
// (one merged before it learnt to) does not make experiments unloadable:
// its snake_case names are accepted, workload-space typos still are not.
func TestUndeclaredCollector(t *testing.T) {
	e := &Experiment{Run: Run{Collectors: []string{"fakecpu", "undeclared"}}}
	if msg := e.MetricProblem("steal_attr_seconds{class=kworker}@p1"); msg != "" {
		t.Errorf("a metric of an undeclared collector refused: %s", msg)
	}
	if msg := e.MetricProblem("throughput_furlongs"); msg == "" {
		t.Errorf("a workload-space typo accepted")
	}
	e.Run.Collectors = []string{"fakecpu"}
	if msg := e.MetricProblem("steal_attr_seconds{class=kworker}@p1"); msg == "" {
		t.Errorf("a metric no listed collector declares accepted")
	}
}

// TestNoiseSweepNamesOne: a "noise" sweep value naming a noise workload
// runs only that one (the CPU-only control beside the I/O noise); a name
// that is not a noise workload is an error naming the value.
func TestNoiseSweepNamesOne(t *testing.T) {
	const exp = `name = "n"
systems = ["D"]
[pools]
count = 2
[[workload]]
name = "fakeio"
pools = "first"
[[workload]]
name = "fakenoise"
role = "noise"
pools = "last"
[[workload]]
name = "randomio"
role = "noise"
pools = "last"
[[sweep]]
param = "noise"
values = [false, true, %s]
`
	e := parse(t, fmt.Sprintf(exp, `"fakenoise"`))
	e.EnsureDefaults()
	if err := e.Validate(); err != nil {
		t.Fatal(err)
	}
	pts := e.Points()
	if len(pts) != 3 || pts[2].Name() != "system=D/pools=2/noise=fakenoise" || !pts[2].Noise || pts[2].NoiseOnly != "fakenoise" {
		t.Fatalf("points %+v", pts)
	}
	for i, want := range [][]Placement{
		{{0, 0, 0}},
		{{0, 0, 0}, {1, 1, 0}, {2, 1, 1}},
		{{0, 0, 0}, {1, 1, 0}},
	} {
		if got := e.Layout(pts[i]); !reflect.DeepEqual(got, want) {
			t.Errorf("layout at %s: %v, want %v", pts[i].Name(), got, want)
		}
	}
	bad := parse(t, fmt.Sprintf(exp, `"fakeio"`))
	bad.EnsureDefaults()
	if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), `"fakeio": noise must be true, false or the name of a noise workload`) {
		t.Errorf("noise = \"fakeio\" (a main workload): %v", err)
	}
}
