package reproduce

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/runner/config"
)

// TestLoadCephConfOfAnotherMachine: a Ceph experiment whose own [ceph]
// conf is absent here (ceph-guest.toml names the guest stage's cluster)
// needs a Ceph cluster, like one with no conf at all, unless a cluster is
// named (-ceph-conf); it is not an invalid experiment.
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
