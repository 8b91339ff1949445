package client_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/ipc/bench"
	"polytropon/ipc/shm"
)

// servePath is the polytropon binary built by TestMain.
var servePath string

func TestMain(m *testing.M) {
	bench.MainIfPeer() // the ping-pong peer of BenchmarkServicePath
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	dir, err := os.MkdirTemp("", "polytropon-client-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	servePath = filepath.Join(dir, "polytropon")
	build := func(pkg string) ([]byte, error) {
		args := []string{"build", "-o", servePath}
		if raceEnabled {
			args = append(args, "-race")
		}
		return exec.Command("go", append(args, pkg)...).CombinedOutput()
	}
	if out, err := build("polytropon/cmd/polytropon"); err != nil {
		// Other packages of the command may be half-written; the serve
		// subcommand alone is the same code.
		fmt.Fprintf(os.Stderr, "building cmd/polytropon failed (%v); using fs/service/internal/serve\n%s", err, out)
		if out, err := build("polytropon/fs/service/internal/serve"); err != nil {
			fmt.Fprintf(os.Stderr, "building the service: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// svcProc is a running "polytropon serve".
type svcProc struct {
	cmd     *exec.Cmd
	key     int
	base    string // mount_dirs entry: MOUNT may use directories under it
	log     *syncBuffer
	done    chan error
	killed  bool // by the test, with SIGKILL
	stopped bool
}

type svcOpts struct {
	config  string   // TOML text (instances etc.)
	args    []string // extra flags
	cloneNS bool     // run in a new IPC namespace
	key     int      // System V key (0: a random one)
}

// startService starts a service with a unique key and waits for its ready
// line. Cleanup stops it (SIGTERM, then SIGKILL) and removes its segment if
// a crash left it behind.
func startService(t testing.TB, o svcOpts) *svcProc {
	t.Helper()
	sp := &svcProc{key: int(rand.Int32N(1<<30)) + 1, base: t.TempDir(), log: &syncBuffer{}, done: make(chan error, 1)}
	if o.key != 0 {
		sp.key = o.key
	}
	args := []string{"serve", "-key", fmt.Sprint(sp.key), "-mount-dir", sp.base,
		"-wait", "spin-futex", "-buffers", "32", "-buffer-size", "65536"}
	if o.config != "" {
		f := filepath.Join(t.TempDir(), "serve.toml")
		if err := os.WriteFile(f, []byte(o.config), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-config", f)
	}
	args = append(args, o.args...)
	sp.cmd = exec.Command(servePath, args...)
	sp.cmd.Stderr = sp.log
	if o.cloneNS {
		sp.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	}
	stdout, err := sp.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { sp.done <- sp.cmd.Wait() }()
	t.Cleanup(func() { sp.stop(t) })
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case ready <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-ready:
		if !strings.HasPrefix(line, "ready ") {
			t.Fatalf("service said %q, want a ready line; log:\n%s", line, sp.log)
		}
	case err := <-sp.done:
		sp.done <- err
		t.Fatalf("service exited before it was ready: %v; log:\n%s", err, sp.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("service not ready after 20s; log:\n%s", sp.log)
	}
	return sp
}

// stop terminates the service (SIGTERM, then SIGKILL after 5s), removes a
// segment a crash left behind and reports a failed exit or a data race the
// service's race detector found. Later calls do nothing.
func (sp *svcProc) stop(t testing.TB) {
	if sp.stopped {
		return
	}
	sp.stopped = true
	var err error
	select {
	case err = <-sp.done: // already exited
	default:
		sp.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err = <-sp.done:
		case <-time.After(5 * time.Second):
			sp.killed = true
			sp.cmd.Process.Kill()
			err = <-sp.done
			t.Errorf("service did not stop on SIGTERM within 5s")
		}
	}
	sp.done <- err
	if seg, serr := shm.Open(sp.key); serr == nil {
		seg.Remove()
		seg.Detach()
	}
	if err != nil && !sp.killed {
		t.Errorf("service exited with %v", err)
	}
	if strings.Contains(sp.log.String(), "DATA RACE") {
		t.Errorf("the race detector found a data race in the service")
	}
	if t.Failed() {
		t.Logf("service log:\n%s", sp.log)
	}
}

// kill9 kills the service without giving it a chance to clean up.
func (sp *svcProc) kill9(t testing.TB) {
	sp.killed = true
	sp.cmd.Process.Signal(syscall.SIGKILL)
	err := <-sp.done
	sp.done <- err
}

// dial connects a client of this process to the service.
func (sp *svcProc) dial(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	opts.Key = sp.key
	c, err := client.Dial(context.Background(), opts)
	if err != nil {
		t.Fatalf("dial: %v; service log:\n%s", err, sp.log)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newDir makes a fresh directory MOUNT may use.
func (sp *svcProc) newDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(sp.base, "d")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var mountSeq struct {
	sync.Mutex
	n int
}

func nextMount(prefix string) string {
	mountSeq.Lock()
	defer mountSeq.Unlock()
	mountSeq.n++
	return fmt.Sprintf("%s/m%d", prefix, mountSeq.n)
}

// mountLocal mounts a fresh local instance and returns its path; cleanup
// unmounts it.
func mountLocal(t testing.TB, sp *svcProc, c *client.Client) (string, string) {
	t.Helper()
	dir := sp.newDir(t)
	mp := nextMount("/t")
	if _, err := c.Mount(mp, "local", "dir="+dir, false); err != nil {
		t.Fatalf("mount %s: %v", mp, err)
	}
	t.Cleanup(func() {
		if err := c.Umount(mp); err != nil && !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("umount %s: %v", mp, err)
		}
	})
	return mp, dir
}

// waitFor polls cond every 20ms until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
