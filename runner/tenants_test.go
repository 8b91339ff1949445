package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/internal/testenv"
	"polytropon/results"
	"polytropon/runner/config"
	"polytropon/systems"
)

// tenantsReread: three tenants (containers of one pool) re-read files
// twice the shared cache, under two cache policies (one point each).
const tenantsReread = `
name = "tenants"
systems = ["D"]
[options.D]
binary = %q
[run]
repetitions = { min = 1, max = 1 }
warmup = "200ms"
duration = "1s"
timeout = "1m"
[pools]
count = [1]
cores_per_pool = 1
memory = "512MiB"
[[workload]]
name = "seqread"
[workload.params]
dir = "reread"
filesize = "2MiB"
iosize = "64KiB"
nthreads = 1
duration = "1s"
[tenants]
weights = [100, 200, 400]
cache = "1MiB"
aging = true
[[sweep]]
param = "tenants.policy"
values = ["conventional", "justitia"]
[[plot]]
kind = "proportionality"
file = "prop"
`

// TestRunTenantContainers runs a Justitia-style experiment for real: the
// tenants are the containers of one D pool sharing one cache; the run has
// per-container throughput, PV and Jain for each policy, and the
// proportionality plot.
func TestRunTenantContainers(t *testing.T) {
	requireHarness(t)
	d, err := systems.Lookup("D")
	if err != nil {
		t.Fatal(err)
	}
	testenv.RequireFUSE(t) // D mounts its instances with FUSE too
	t.Setenv("POLYTROPON_BIN", polytroponBin)
	if err := d.Check(); err != nil {
		t.Skip(err)
	}
	_, exp := writeExperiment(t, fmt.Sprintf(tenantsReread, polytroponBin))
	work, out := t.TempDir(), t.TempDir()
	var stdout, stderr bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: out, WorkDir: work, AgentBinary: polytroponBin, Stdout: &stdout, Stderr: &stderr})
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !res.Complete || len(res.Points) != 2 {
		t.Fatalf("outcome: complete=%v points=%d; want complete, 2 points", res.Complete, len(res.Points))
	}
	run, _, err := results.Open(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, policy := range []string{"conventional", "justitia"} {
		point := "system=D/pools=1/tenants.policy=" + policy
		for _, m := range []string{results.MetricPV, results.MetricJain, "throughput_mbps@c0", "throughput_mbps@c1", "throughput_mbps@c2"} {
			if row := run.Table().Lookup(point, m); row == nil || row.N != 1 {
				t.Errorf("%s: %s: %+v; want one sample (metrics %v)", point, m, row, run.Table().Metrics())
			}
		}
		if row := run.Table().Lookup(point, results.MetricJain); row != nil && !(row.Mean > 0 && row.Mean <= 1) {
			t.Errorf("%s: Jain %v outside (0, 1]", point, row.Mean)
		}
	}
	for _, ext := range []string{"png", "svg"} {
		f := filepath.Join(res.Dir, results.PlotsDir, "prop."+ext)
		if st, err := os.Stat(f); err != nil || st.Size() == 0 {
			t.Errorf("proportionality plot %s missing or empty: %v", f, err)
		}
	}
	assertNothingLeft(t, work, os.Getpid())
	assertNoSegments(t, "p0")
}

// TestRunRefusesPoolTenantCachePolicy: with the tenants as pools (each
// pool its own service and private cache) `polytropon run` refuses cache
// policies before it provisions anything and names cachebench.
func TestRunRefusesPoolTenantCachePolicy(t *testing.T) {
	text := strings.Replace(fmt.Sprintf(tenantsReread, "/nonexistent"), "count = [1]", "count = [3]", 1)
	path := filepath.Join(t.TempDir(), "exp.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	exp, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err = Run(context.Background(), exp, Options{OutDir: out})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Run: got %v, want an error wrapping config.ErrInvalid", err)
	}
	for _, want := range []string{path + ":", "tenants.aging", "sweep[0].param", "polytropon cachebench FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused run created its output directory %s (stat: %v)", out, err)
	}
}
