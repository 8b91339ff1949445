package runner

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/runner/config"
)

const memoryExp = `
name = "mem"
systems = [%q]
[run]
duration = "1s"
[pools]
count = 2
cores_per_pool = 1
memory = %q
containers = 7
oversubscribe = true
[[workload]]
name = "fileserver"
pools = "first"
[workload.params]
nthreads = 50
filesize = "1MiB"
[[workload]]
name = "randomio"
role = "noise"
pools = [1]
[[sweep]]
param = "noise"
values = [false, true]
`

func parseExp(t *testing.T, system, memory string) *config.Experiment {
	t.Helper()
	e, err := config.Parse("mem.toml", []byte(fmt.Sprintf(memoryExp, system, memory)))
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestPoolMemoryPreflight: D's service, its buffers, 7 client caches of
// 256 MiB and 7 fileserver agents with 50 MiB of buffers each do not fit
// a 512 MiB pool: the run stops before anything is set up, naming the
// point, the pool and the parts. K keeps its cache in the kernel's
// (reclaimable) page cache and fits 1 GiB; D needs 4 GiB.
func TestPoolMemoryPreflight(t *testing.T) {
	err := checkPoolMemory(parseExp(t, "D", "512MiB"))
	if !errors.Is(err, ErrPoolMemory) {
		t.Fatalf("D in 512 MiB pools: %v, want ErrPoolMemory", err)
	}
	for _, want := range []string{"system=D", "pool 0 ", "needs about", "pools.memory = 512MiB", "7 client caches of up to 256MiB", "fileserver in container 6", "D's service"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "pool 1") {
		t.Errorf("error %q names pool 1, where only randomio runs", err)
	}
	if err := checkPoolMemory(parseExp(t, "K", "1GiB")); err != nil {
		t.Errorf("K in 1 GiB pools: %v, want no error (its cache is reclaimable page cache)", err)
	}
	if err := checkPoolMemory(parseExp(t, "D", "1GiB")); !errors.Is(err, ErrPoolMemory) {
		t.Errorf("D in 1 GiB pools: %v, want ErrPoolMemory (1.75 GiB of client caches)", err)
	}
	if err := checkPoolMemory(parseExp(t, "D", "4GiB")); err != nil {
		t.Errorf("D in 4 GiB pools: %v", err)
	}
}

// TestCheckedInExperimentsFitPoolMemory: every checked-in experiment
// passes the memory pre-flight.
func TestCheckedInExperimentsFitPoolMemory(t *testing.T) {
	files, _ := filepath.Glob("../experiments/*.toml")
	for _, f := range files {
		t.Setenv("CEPH_CONF", "/etc/ceph/ceph.conf")
		e, err := config.Load(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkPoolMemory(e); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestRunReportsOOMKill: a workload whose buffer outgrows the pool's
// memory (seqwrite with a 256 MiB block in a 64 MiB pool; seqwrite does
// not declare its memory, so the pre-flight lets it through) is killed by
// the kernel, and the repetition fails saying so, naming the pool.
func TestRunReportsOOMKill(t *testing.T) {
	requireHarness(t)
	_, exp := writeExperiment(t, `
name = "oom"
systems = ["K"]
[options.K]
size = "512M"
[run]
repetitions = { min = 1, max = 1 }
warmup = "0s"
duration = "2s"
timeout = "1m"
collectors = ["cpu"]
[pools]
count = [1]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "seqwrite"
[workload.params]
iosize = "256MiB"
`)
	work := t.TempDir()
	res, err := Run(t.Context(), exp, Options{OutDir: t.TempDir(), WorkDir: work, AgentBinary: polytroponBin})
	if !errors.Is(err, ErrPointsFailed) {
		t.Fatalf("Run: %v, want ErrPointsFailed", err)
	}
	perr := res.Points[0].Err
	if !errors.Is(perr, ErrPoolMemory) || !strings.Contains(perr.Error(), "pool p0 (pools.memory = 64MiB): the kernel's OOM killer killed") {
		t.Errorf("point error: %v, want the OOM kill in pool p0 named", perr)
	}
	if !strings.Contains(perr.Error(), "the agent of seqwrite (main) in pool 0 container 0") && !strings.Contains(perr.Error(), "not named in the kernel log") {
		t.Errorf("point error: %v, want the killed agent named", perr)
	}
	t.Logf("point error: %v", perr)
	assertNothingLeft(t, work, os.Getpid())
}
