package reproduce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/results"
	"polytropon/runner/config"
)

// TestLoadCephConfOfAnotherMachine: a Ceph experiment whose own [ceph]
// conf is absent here (ceph-guest.toml names the guest stage's cluster)
// needs a Ceph cluster, like one with no conf at all, unless a cluster is
// named (-ceph-conf); it is not an invalid experiment. A named cluster
// whose conf is absent is an error.
func TestLoadCephConfOfAnotherMachine(t *testing.T) {
	t.Setenv("CEPH_CONF", "")
	src, err := os.ReadFile("../../experiments/ceph-guest.toml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "absent", "ceph.conf")
	text := strings.Replace(string(src), `conf = "/tmp/ceph/ceph.conf"`, `conf = "`+missing+`"`, 1)
	if text == string(src) {
		t.Fatal(`ceph-guest.toml no longer has conf = "/tmp/ceph/ceph.conf"; update this test`)
	}
	file := filepath.Join(dir, "ceph-guest.toml")
	if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = load(file, config.ScaleSmoke, "")
	if !errors.Is(err, errNoCluster) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("load with an absent conf = %v; want errNoCluster naming %s", err, missing)
	}
	// A cluster the user named that is not there is a mistake, not a
	// cluster this host lacks.
	_, err = load(file, config.ScaleSmoke, missing)
	if err == nil || errors.Is(err, errNoCluster) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("load with an absent -ceph-conf = %v; want an error naming %s that is not errNoCluster", err, missing)
	}
	conf := filepath.Join(dir, "ceph.conf")
	if err := os.WriteFile(conf, []byte("[global]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := load(file, config.ScaleSmoke, conf)
	if err != nil {
		t.Fatalf("load with -ceph-conf %s: %v", conf, err)
	}
	if e.Ceph.Conf != conf {
		t.Errorf("conf = %q, want the named cluster's %q", e.Ceph.Conf, conf)
	}
}

// TestRunWallCountsCarriedPoints: a run that resumed an interrupted one
// took its own span plus the earlier pass's span of the points it kept
// (records older than its start); before, only the resuming pass counted.
func TestRunWallCountsCarriedPoints(t *testing.T) {
	at := func(min int) time.Time { return time.Date(2026, 12, 7, 15, min, 0, 0, time.UTC) }
	info := results.Info{Start: at(40), End: at(48)}
	kept := []results.Record{{Time: at(2)}, {Time: at(30)}, {Time: at(12)}}
	own := []results.Record{{Time: at(41)}, {Time: at(47)}}
	if got := runWall(info, own); got != 8*time.Minute {
		t.Errorf("a run of its own: %v, want 8m0s", got)
	}
	if got := runWall(info, append(kept, own...)); got != 36*time.Minute {
		t.Errorf("a run with points kept from 15:02-15:30: %v, want 8m + 28m", got)
	}
	if got := runWall(results.Info{Start: at(40)}, kept); got != 0 {
		t.Errorf("a run without an end: %v, want 0", got)
	}
}
