package preload_test

import (
	"bufio"
	"bytes"
	"context"
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

	"polytropon/fs/preload"
	"polytropon/ipc/shm"
)

// servePath is the polytropon binary and libPath the preload library,
// both built by TestMain.
var servePath, libPath string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	dir, err := os.MkdirTemp("", "polytropon-preload-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	servePath = filepath.Join(dir, "polytropon")
	if out, err := exec.Command("go", "build", "-o", servePath, "polytropon/cmd/polytropon").CombinedOutput(); err != nil {
		// Other packages of the command may be half-written; the serve
		// subcommand alone is the same code.
		fmt.Fprintf(os.Stderr, "building cmd/polytropon failed (%v); using fs/service/internal/serve\n%s", err, out)
		if out, err := exec.Command("go", "build", "-o", servePath, "polytropon/fs/service/internal/serve").CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building the service: %v\n%s", err, out)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	if libPath, err = preload.Build(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// syncBuffer collects a process's output.
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

// pool is a running "polytropon serve" with one instance: a union of a
// private writable branch over a shared read-only lower branch, mounted at
// Root (a real, empty host directory, as system D sets it up).
type pool struct {
	Key   int
	Root  string // mount path
	Upper string // writable branch (host dir)
	Lower string // read-only shared branch (host dir)
	cmd   *exec.Cmd
	log   *syncBuffer
	done  chan error
}

type poolOpts struct {
	lower   func(dir string) // fills the lower branch before the start
	args    []string         // extra serve flags
	bufSize int              // data area per buffer (0: 256 KiB)
}

// startPool starts a service with a fresh key and waits for its ready
// line; cleanup stops it and removes its segment.
func startPool(t testing.TB, o poolOpts) *pool {
	t.Helper()
	base := t.TempDir()
	p := &pool{Key: int(rand.Int32N(1<<30)) + 1, Root: filepath.Join(base, "root"), Upper: filepath.Join(base, "upper"),
		Lower: filepath.Join(base, "lower"), log: &syncBuffer{}, done: make(chan error, 1)}
	for _, d := range []string{p.Root, p.Upper, p.Lower} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if o.lower != nil {
		o.lower(p.Lower)
	}
	cfg := fmt.Sprintf(`[[instance]]
path = %q
share = true
stack = [{type = "union", branches = [
    {type = "local", dir = %q},
    {type = "local", dir = %q, readonly = true, shared = "image"}]}]
`, p.Root, p.Upper, p.Lower)
	cfgFile := filepath.Join(base, "serve.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	bs := o.bufSize
	if bs == 0 {
		bs = 256 << 10
	}
	args := []string{"serve", "-key", fmt.Sprint(p.Key), "-config", cfgFile, "-wait", "spin-futex",
		"-buffers", "128", "-buffer-size", fmt.Sprint(bs)}
	args = append(args, o.args...)
	p.cmd = exec.Command(servePath, args...)
	p.cmd.Stderr = p.log
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
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
			t.Fatalf("service said %q, want a ready line; log:\n%s", line, p.log)
		}
	case err := <-p.done:
		p.done <- err
		t.Fatalf("service exited before it was ready: %v; log:\n%s", err, p.log)
	case <-time.After(20 * time.Second):
		t.Fatalf("service not ready after 20s; log:\n%s", p.log)
	}
	return p
}

func (p *pool) stop(t testing.TB) {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			p.done <- err
		case <-time.After(5 * time.Second):
			p.cmd.Process.Kill()
			err := <-p.done
			p.done <- err
			t.Errorf("service did not stop on SIGTERM within 5s; log:\n%s", p.log)
		}
	}
	if seg, err := shm.Open(p.Key); err == nil {
		seg.Remove()
		seg.Detach()
	}
	if t.Failed() {
		t.Logf("service log:\n%s", p.log)
	}
}

// kill9 kills the service without letting it clean up.
func (p *pool) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	err := <-p.done
	p.done <- err
}

// Env is the environment of a program on this pool.
func (p *pool) Env() []string {
	return preload.WithEnv(os.Environ(), preload.Env(libPath, p.Key, ""))
}

// command builds a command running in dir; preloaded selects the library.
func command(ctx context.Context, p *pool, dir string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = os.Environ()
	if p != nil {
		cmd.Env = p.Env()
	}
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a program (through the library when p is not nil) in dir with a
// time limit and returns its stdout; a failure ends the test with its
// output.
func run(t testing.TB, p *pool, dir string, timeout time.Duration, name string, args ...string) string {
	t.Helper()
	out, err := runErr(p, dir, timeout, name, args...)
	if err != nil {
		t.Fatalf("%s %s (preload=%v, dir %s): %v\n%s", name, strings.Join(args, " "), p != nil, dir, err, out)
	}
	return out
}

func runErr(p *pool, dir string, timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, p, dir, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (%v)", timeout, err)
	}
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// need skips the test when a program is missing.
func need(t testing.TB, prog, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		t.Skipf("needs %s: install package %s", prog, pkg)
	}
	return p
}

// compile builds a C program of testdata into a temporary directory.
func compile(t testing.TB, src string, extra ...string) string {
	t.Helper()
	need(t, "gcc", "gcc")
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(src), ".c"))
	args := append([]string{"-O2", "-Wall", "-o", out, src}, extra...)
	if b, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, b)
	}
	return out
}

// helperEnv makes the test binary act as a helper program (see runHelper).
const helperEnv = "POLYTROPON_PRELOAD_HELPER"

func runHelper() int {
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", os.Getenv(helperEnv))
	return 2
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

func contextTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
