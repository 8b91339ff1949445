package hostcheck_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/internal/testenv"
)

// TestProgramMissing: a program not in $PATH (nor sbin) is missing, and
// the item names the package that installs it.
func TestProgramMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	p := hostcheck.Program{Names: []string{"db_bench-polytropon-test"}, Package: "rocksdb-tools"}
	if _, err := p.Find(); err == nil || !strings.Contains(err.Error(), "apt-get install rocksdb-tools") {
		t.Errorf("Find: %v, want an error naming the package", err)
	}
	it := p.Item("workload rocksdb")
	if it.OK || it.Fix != "apt-get install rocksdb-tools" || it.For != "workload rocksdb" {
		t.Errorf("item %+v: want missing with the fix", it)
	}
	// Found once it is in $PATH.
	dir := t.TempDir()
	exe := filepath.Join(dir, "db_bench-polytropon-test")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\necho 'db_bench version 9.9'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if it := p.Item("x"); !it.OK || it.Detail != exe {
		t.Errorf("item %+v: want found at %s", it, exe)
	}
}

// TestToolVersions: versions come from the tools' own output (the line
// that holds them); tools not installed are left out.
func TestToolVersions(t *testing.T) {
	dir := t.TempDir()
	for name, out := range map[string]string{
		"fio":     "fio-3.33",
		"unionfs": "FUSE library version: 2.9.9\nfusermount3 version: 3.14.0\nunionfs-fuse version: 1.0",
	} {
		script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' '%s'\n", strings.ReplaceAll(out, "\n", "' '"))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("PATH", dir)
	got := hostcheck.ToolVersions(context.Background())
	if got["fio"] != "fio-3.33" || got["unionfs-fuse"] != "unionfs-fuse version: 1.0" {
		t.Errorf("versions %v: want fio-3.33 and unionfs-fuse version: 1.0", got)
	}
	for _, absent := range []string{"db_bench", "stress-ng", "ceph"} {
		if _, ok := got[absent]; ok {
			t.Errorf("%s is reported (%q) but not in $PATH", absent, got[absent])
		}
	}
}

func writeConf(t *testing.T, monHost string) string {
	return testenv.WriteFile(t, "ceph.conf", "[global]\nfsid = x\nmon host = "+monHost+"\n")
}

// TestDialCeph: a monitor that sends the Ceph banner answers; a dead port,
// a port that sends something else, or one that says nothing do not, and
// each answer comes within the timeout.
func TestDialCeph(t *testing.T) {
	mon := testenv.FakeCephMonitor(t, "ceph v027")
	if err := hostcheck.DialCeph(writeConf(t, "[v2:"+mon+"/0,v1:127.0.0.1:1/0]"), 2*time.Second); err != nil {
		t.Errorf("a monitor answers: %v", err)
	}
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts (backlog), never writes
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	deadAddr := testenv.DeadPort(t)
	for name, host := range map[string]string{
		"dead port":      deadAddr,
		"not a monitor":  testenv.FakeCephMonitor(t, "HTTP/1.1 400 Bad Request\r\n"),
		"silent port":    silent.Addr().String(),
		"two dead ports": "[v2:" + deadAddr + ",v1:" + deadAddr + "]",
	} {
		const timeout = 300 * time.Millisecond
		t0 := time.Now()
		err := hostcheck.DialCeph(writeConf(t, host), timeout)
		if took := time.Since(t0); took > timeout+2*time.Second { // bounded by the timeout, with room for a loaded host
			t.Errorf("%s: answered after %v, want within %v", name, took, timeout)
		}
		if err == nil || !strings.Contains(err.Error(), "monitor ") {
			t.Errorf("%s: %v, want an error naming the monitor", name, err)
		}
	}
	if _, err := hostcheck.CephMonitors(writeConf(t, "")); err == nil {
		t.Error("a conf without monitors accepted")
	}
	if got, err := hostcheck.CephMonitors(writeConf(t, "10.0.0.1")); err != nil || got[0] != "10.0.0.1:6789" {
		t.Errorf("a monitor without a port: %v %v, want the legacy port 6789", got, err)
	}
}

// TestMeminfo: values in bytes, at least what the Go runtime itself uses;
// an unknown key is 0.
func TestMeminfo(t *testing.T) {
	total, avail := hostcheck.Meminfo("MemTotal"), hostcheck.Meminfo("MemAvailable")
	if total < 1<<20 || avail <= 0 || avail > total {
		t.Errorf("MemTotal %d, MemAvailable %d bytes: want 0 < available <= total, total above 1 MiB", total, avail)
	}
	if v := hostcheck.Meminfo("NoSuchKey"); v != 0 {
		t.Errorf("unknown key: %d, want 0", v)
	}
}
