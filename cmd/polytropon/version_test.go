package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"polytropon/fs/cephfs"
	"polytropon/internal/hostcheck"
	"polytropon/internal/testenv"
)

// TestVersionCommand: version, commit, Go version, build tags, the
// optional parts this build has or lacks, and every known tool with its
// version as the tool prints it, or where to get it.
func TestVersionCommand(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "fio"), []byte("#!/bin/sh\necho fio-9.99\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	var stdout, stderr bytes.Buffer
	if status := run(&stdout, &stderr, []string{"version"}); status != 0 {
		t.Fatalf("exit status %d; stderr:\n%s", status, stderr.String())
	}
	out := stdout.String()
	part := "lacks       libcephfs"
	if cephfs.Available {
		part = "built in    libcephfs"
	}
	for _, want := range []string{"polytropon  ", "commit  ", "go          " + runtime.Version(), "build tags  ", part, "tools:",
		"fio                 fio-9.99", "db_bench            not found (apt-get install rocksdb-tools)"} {
		if !strings.Contains(out, want) {
			t.Errorf("version output lacks %q:\n%s", want, out)
		}
	}
	for _, tool := range hostcheck.Tools {
		if !strings.Contains(out, "  "+tool.Name+" ") {
			t.Errorf("version output does not list %s:\n%s", tool.Name, out)
		}
	}
}

// TestVersionBuildTags: a binary built with the Ceph tags says so and has
// libcephfs built in; one without says what it lacks.
func TestVersionBuildTags(t *testing.T) {
	for _, tc := range []struct {
		tags []string
		want []string
	}{
		{[]string{"ceph", "pacific"}, []string{"build tags  ceph pacific", "built in    libcephfs, for system D-ceph"}},
		{nil, []string{"build tags  none", "lacks       libcephfs, for system D-ceph: apt-get install libcephfs-dev librados-dev"}},
	} {
		out, err := exec.Command(testenv.Polytropon(t, tc.tags...), "version").CombinedOutput()
		if err != nil {
			t.Fatalf("tags %v: %v\n%s", tc.tags, err, out)
		}
		for _, want := range tc.want {
			if !strings.Contains(string(out), want) {
				t.Errorf("tags %v: version output lacks %q:\n%s", tc.tags, want, out)
			}
		}
	}
}

// TestDoctorCommand: without an experiment the doctor lists the host and
// exits 0; with one whose cluster does not answer it says which points
// cannot run and why, exits non-zero, and answers at once.
func TestDoctorCommand(t *testing.T) {
	testenv.RequireRoot(t, "the doctor's verdicts are those of a root run")
	var stdout, stderr bytes.Buffer
	if status := run(&stdout, &stderr, []string{"doctor"}); status != 0 {
		t.Fatalf("doctor: exit status %d; stderr:\n%s", status, stderr.String())
	}
	for _, want := range []string{"host:", "cgroups", "/dev/fuse", "loop devices", "kernel ceph filesystem", "tracefs", "bpftrace", "db_bench", "Ceph cluster"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("doctor does not list %q:\n%s", want, stdout.String())
		}
	}
	conf := testenv.WriteFile(t, "ceph.conf", "[global]\nmon host = "+testenv.DeadPort(t)+"\n")
	exp := testenv.WriteFile(t, "x.toml", fmt.Sprintf(`name = "x"
systems = ["F-ceph"]
backend = "ceph"
[ceph]
conf = %q
[pools]
cores_per_pool = 1
memory = "64MiB"
[[workload]]
name = "fileserver"
`, conf))
	stdout.Reset()
	stderr.Reset()
	t0 := time.Now()
	status := run(&stdout, &stderr, []string{"doctor", exp})
	if took := time.Since(t0); took > 3*time.Second {
		t.Errorf("doctor took %v without a cluster; want well under a second (3 s on a loaded host)", took)
	}
	if status == 0 || !strings.Contains(stderr.String(), "cannot run") {
		t.Errorf("exit status %d, stderr %q; want a failure saying points cannot run", status, stderr.String())
	}
	out := stdout.String()
	if !strings.Contains(out, "system=F-ceph/pools=1") || !strings.Contains(out, "1 of 1 points cannot run") {
		t.Errorf("doctor does not say the point cannot run:\n%s", out)
	}
}
