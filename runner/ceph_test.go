//go:build ceph

package runner

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/results"
)

const cephExperiment = `
name = "ceph-ci"
systems = ["D-ceph", "F-ceph", "F/F"]
backend = "ceph"
[ceph]
conf = %q
[options."D-ceph"]
client_oc_size = 67108864
buffers = 16
[options."F-ceph"]
client_oc_size = 67108864
[options."F/F"]
client_oc_size = 67108864
[run]
repetitions = { min = 1, max = 1 }
warmup = "100ms"
duration = "3s"
timeout = "2m"
collectors = ["cpu"]
[pools]
count = [1]
cores_per_pool = 1
memory = "1GiB"
[[workload]]
name = "fileserver"
[workload.params]
nfiles = 40
meandirwidth = 10
filesize = "16KiB"
nthreads = 2
iosize = "16KiB"
meanappendsize = "4KiB"
`

// TestRunCephSystems runs a short fileserver through D-ceph, F-ceph and
// F/F against the cluster at $POLYTROPON_CEPH_CONF, in one real pool each:
// every system must produce a result with a positive throughput, and the
// run must leave nothing behind: no service, ceph-fuse or unionfs process
// of the run (seen while it ran, so the check is not blind), no mount, no
// tenant key.
func TestRunCephSystems(t *testing.T) {
	conf := testenv.CephConf(t)
	requireHarness(t)
	// The service of D-ceph must build cephfs layers: a binary with
	// libcephfs, used as agent and service alike.
	bin := testenv.Polytropon(t, "ceph", "pacific")
	t.Setenv("POLYTROPON_BIN", bin)

	_, exp := writeExperiment(t, fmt.Sprintf(cephExperiment, conf))
	work, out := t.TempDir(), t.TempDir()
	seen := map[string]bool{}
	var mu sync.Mutex
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			kinds, keys := runProcesses(work, bin), tenantKeyFiles(work)
			mu.Lock()
			for _, k := range append(kinds, keys...) {
				seen[k] = true
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	var stdout, stderr bytes.Buffer
	res, err := Run(t.Context(), exp, Options{OutDir: out, WorkDir: work, AgentBinary: bin, Stdout: &stdout, Stderr: &stderr})
	close(stop)
	<-watched
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(res.Points) != 3 {
		t.Fatalf("%d points, want 3", len(res.Points))
	}
	for _, po := range res.Points {
		if po.Skipped != "" || po.Err != nil || len(po.Repetitions) != 1 {
			t.Errorf("point %s: skipped %q, err %v, %d repetitions; want 1 measured repetition", po.Point.Name(), po.Skipped, po.Err, len(po.Repetitions))
			continue
		}
		for _, in := range po.Repetitions[0].Instances {
			if in.Result == nil || in.Result.Ops == 0 || in.Result.Bytes == 0 {
				t.Errorf("point %s: no work done: %+v", po.Point.Name(), in.Result)
			}
		}
	}
	run, _, err := results.Open(res.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"system=D-ceph/pools=1", "system=F-ceph/pools=1", "system=F_F/pools=1"} {
		if row := run.Table().Lookup(name, results.MetricThroughput); row == nil || row.N != 1 || !(row.Mean > 0) {
			t.Errorf("%s: throughput %+v; want one positive sample", name, row)
		}
	}

	// The watcher saw the run's daemons, so their absence now means
	// something.
	for _, kind := range []string{"serve", "ceph-fuse", "unionfs", "agent"} {
		if !seen[kind] {
			t.Errorf("no %s process of the run seen while it ran: the leftover check would be blind (seen %v)", kind, seen)
		}
	}
	if left := runProcesses(work, bin); len(left) > 0 {
		t.Errorf("processes of the run left: %v", left)
	}
	// Every pool's tenant key (one per point here) is gone from the
	// cluster. Other packages' tests may use the cluster at the same time:
	// only this run's keys count.
	var keys []string
	for k := range seen {
		if strings.HasPrefix(k, "client.") {
			keys = append(keys, k)
		}
	}
	if len(keys) != 3 {
		t.Errorf("tenant keyrings seen during the run: %v, want one per point", keys)
	}
	have := clusterKeys(t, conf)
	for _, k := range keys {
		if slices.Contains(have, k) {
			t.Errorf("tenant key %s left in the cluster", k)
		}
	}
	assertNothingLeft(t, work, os.Getpid())
}

// runProcesses lists, by kind, the processes of a run: the filesystem
// service and the agents (the run's binary), ceph-fuse and unionfs mounting
// under its work directory.
func runProcesses(work, bin string) []string {
	var kinds []string
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		data, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || len(data) == 0 {
			continue
		}
		args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
		exe, _ := os.Readlink(filepath.Join(p, "exe"))
		switch base := filepath.Base(args[0]); {
		case strings.TrimSuffix(exe, " (deleted)") == bin && len(args) > 1 && args[1] == "serve":
			kinds = append(kinds, "serve")
		case strings.TrimSuffix(exe, " (deleted)") == bin && len(args) > 1 && args[1] == "_agent":
			kinds = append(kinds, "agent")
		case (base == "ceph-fuse" || base == "unionfs") && strings.Contains(string(data), work):
			kinds = append(kinds, base)
		}
	}
	sort.Strings(kinds)
	return kinds
}

// tenantKeyFiles lists the tenants whose keyring a system wrote under the
// run's work directory ("client.polytropon-<run>-p<N>").
func tenantKeyFiles(work string) []string {
	var keys []string
	filepath.WalkDir(work, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasPrefix(d.Name(), "client.polytropon-") && strings.HasSuffix(d.Name(), ".keyring") {
			keys = append(keys, strings.TrimSuffix(d.Name(), ".keyring"))
		}
		return nil
	})
	return keys
}

// clusterKeys lists the cluster's client entities.
func clusterKeys(t *testing.T, conf string) []string {
	t.Helper()
	out, err := exec.Command("ceph", "-c", conf, "--connect-timeout", "30", "auth", "ls").Output()
	if err != nil {
		t.Fatalf("ceph auth ls: %v", err)
	}
	var keys []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "client.") {
			keys = append(keys, strings.TrimSpace(line))
		}
	}
	return keys
}
