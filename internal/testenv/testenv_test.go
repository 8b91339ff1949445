package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveBuilt()
	os.Exit(code)
}

// TestPolytropon: the command is built once per tag set and runs.
func TestPolytropon(t *testing.T) {
	a, b := Polytropon(t), Polytropon(t)
	if a != b {
		t.Errorf("not cached: %s then %s", a, b)
	}
	out, err := exec.Command(a, "help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "usage: polytropon") {
		t.Errorf("%s help: %v\n%s", a, err, out)
	}
}

// TestRequireToolSkips: a missing program skips, naming its package.
func TestRequireToolSkips(t *testing.T) {
	var skipped bool
	t.Run("missing", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		RequireTool(t, "no-such-program-polytropon", "nosuchpkg")
	})
	if !skipped {
		t.Error("RequireTool of a missing program did not skip")
	}
	if p := RequireTool(t, "sh", "dash"); !filepath.IsAbs(p) {
		t.Errorf("RequireTool(sh) = %q, want an absolute path", p)
	}
}

// TestCephReachable: the monitor address is read from every "mon host"
// form ceph.conf allows and dialed; a monitor sends its banner first.
func TestCephReachable(t *testing.T) {
	mon := FakeCephMonitor(t, "ceph v2\n")
	_, port, _ := net.SplitHostPort(mon)
	for _, host := range []string{
		fmt.Sprintf("[v2:%s,v1:%s]", mon, DeadPort(t)),
		fmt.Sprintf("v2:%s/0", mon),
		mon,
		"127.0.0.1:" + port,
	} {
		conf := WriteFile(t, "ceph.conf", "[global]\nfsid = x\nmon host = "+host+"\n")
		if err := cephReachable(conf); err != nil {
			t.Errorf("mon host = %s: %v", host, err)
		}
	}
	conf := WriteFile(t, "ceph.conf", "mon host = "+DeadPort(t)+"\n")
	if err := cephReachable(conf); err == nil {
		t.Error("a closed monitor port counts as reachable")
	}
}

// TestRemoveStaleBuilds: the build directory of a test process that is
// gone is removed; those of live processes, and directories of another
// form, are not.
func TestRemoveStaleBuilds(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Skipf("needs true(1): %v", err)
	}
	dead := filepath.Join(tmp, fmt.Sprintf("%s%d-1", buildPrefix, gone.Process.Pid))
	alive := filepath.Join(tmp, fmt.Sprintf("%s%d-2", buildPrefix, os.Getppid()))
	other := filepath.Join(tmp, buildPrefix+"12345")
	for _, d := range []string{dead, alive, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	removeStaleBuilds()
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("%s of a process that is gone: %v, want removed", dead, err)
	}
	for _, d := range []string{alive, other} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s: %v, want kept", d, err)
		}
	}
}
