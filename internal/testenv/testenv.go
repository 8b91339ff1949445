// Package testenv is the one place where tests ask what this host can do
// and get the programs they need. Each Require* helper skips the test with
// a message that names the missing capability and how to get it; CI runs
// on a host that has them all, so nothing skips there. Only tests import
// this package.
//
// Binaries: Polytropon builds cmd/polytropon once per test binary and tag
// set (with the race detector when the test binary has it, so tests that
// drive a real service check its side too). A test binary that calls it
// removes the builds from its TestMain with RemoveBuilt.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/internal/hostcheck"
)

// RequireRoot skips unless the test runs as root; why says what root is
// needed for ("cgroups, namespaces").
func RequireRoot(tb testing.TB, why string) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skipf("needs root (%s)", why)
	}
}

// RequireFUSE skips unless the test can mount FUSE file systems: /dev/fuse,
// and root (mount(2)) or fusermount3.
func RequireFUSE(tb testing.TB) {
	tb.Helper()
	if _, err := os.Stat("/dev/fuse"); err != nil {
		tb.Skipf("needs /dev/fuse (FUSE kernel support): %v", err)
	}
	if os.Geteuid() != 0 {
		RequireTool(tb, "fusermount3", "fuse3")
	}
}

// RequireTool skips unless prog is in PATH; pkg is the Debian package that
// installs it. It returns the program's path.
func RequireTool(tb testing.TB, prog, pkg string) string {
	tb.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		tb.Skipf("needs %s: apt-get install %s", prog, pkg)
	}
	return p
}

// CephConfEnv names the ceph.conf of the test cluster (scripts/ceph-up.sh
// prints it; scripts/test.sh exports it).
const CephConfEnv = "POLYTROPON_CEPH_CONF"

// CephConf returns the test cluster's ceph.conf ($POLYTROPON_CEPH_CONF,
// else $CEPH_CONF) after checking that its monitor answers, or skips.
func CephConf(tb testing.TB) string {
	tb.Helper()
	conf := os.Getenv(CephConfEnv)
	if conf == "" {
		conf = os.Getenv("CEPH_CONF")
	}
	if conf == "" {
		tb.Skipf("needs a Ceph cluster: set %s (scripts/ceph-up.sh DIR; scripts/test.sh does it)", CephConfEnv)
	}
	if err := cephReachable(conf); err != nil {
		tb.Fatalf("%s=%s: %v (a cluster was named but does not answer)", CephConfEnv, conf, err)
	}
	return conf
}

// cephReachable dials the monitors of conf.
func cephReachable(conf string) error { return hostcheck.DialCeph(conf, 2*time.Second) }

// FakeCephMonitor listens on a loopback port that answers every
// connection with banner (a Ceph messenger's "ceph v2\n", or anything
// else) and closes it; the test closes the listener at its end. It returns
// the address. For tests of what finds and dials a cluster, not of Ceph.
func FakeCephMonitor(tb testing.TB, banner string) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(banner))
			c.Close()
		}
	}()
	return l.Addr().String()
}

// DeadPort returns a loopback address on which nothing listens.
func DeadPort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

var builds struct {
	sync.Mutex
	dir  string
	bins map[string]*build // by tags
}

type build struct {
	once sync.Once
	path string
	err  error
}

// Polytropon returns the polytropon command built with the given build
// tags ("ceph pacific"), building it on first use.
func Polytropon(tb testing.TB, tags ...string) string {
	tb.Helper()
	key := strings.Join(tags, " ")
	builds.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*build{}
	}
	b := builds.bins[key]
	if b == nil {
		b = &build{}
		builds.bins[key] = b
	}
	builds.Unlock()
	b.once.Do(func() { b.path, b.err = buildPolytropon(key) })
	if b.err != nil {
		tb.Fatal(b.err)
	}
	return b.path
}

func buildPolytropon(tags string) (string, error) {
	builds.Lock()
	if builds.dir == "" {
		// A test binary killed before its TestMain's RemoveBuilt (a
		// go test -timeout, a crash) leaves its directory: the next build
		// removes those of processes that are gone.
		removeStaleBuilds()
		d, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", buildPrefix, os.Getpid()))
		if err != nil {
			builds.Unlock()
			return "", err
		}
		builds.dir = d
	}
	dir := builds.dir
	builds.Unlock()
	bin := filepath.Join(dir, "polytropon")
	if tags != "" {
		bin += "-" + strings.ReplaceAll(tags, " ", "-")
	}
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	out, err := exec.Command("go", append(args, "polytropon/cmd/polytropon")...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("testenv: go %s polytropon/cmd/polytropon: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin, nil
}

// buildPrefix starts the names of the build directories, followed by the
// building process's pid and a dash.
const buildPrefix = "polytropon-testenv-"

// removeStaleBuilds removes the build directories of test processes that
// no longer exist.
func removeStaleBuilds() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), buildPrefix+"*-*"))
	for _, d := range dirs {
		pid, _, ok := strings.Cut(strings.TrimPrefix(filepath.Base(d), buildPrefix), "-")
		if n, err := strconv.Atoi(pid); ok && err == nil && n > 0 && n != os.Getpid() && !processExists(n) {
			os.RemoveAll(d)
		}
	}
}

// processExists reports whether a process with this pid exists.
func processExists(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// RemoveBuilt deletes what Polytropon built; TestMain calls it after m.Run.
func RemoveBuilt() {
	builds.Lock()
	defer builds.Unlock()
	if builds.dir != "" {
		os.RemoveAll(builds.dir)
		builds.dir, builds.bins = "", nil
	}
}

// WriteFile writes text to a file called name in a fresh temporary
// directory of the test and returns its path (configuration files, TOML
// fixtures).
func WriteFile(tb testing.TB, name, text string) string {
	tb.Helper()
	f := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	return f
}
