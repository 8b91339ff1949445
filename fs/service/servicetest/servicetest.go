// Package servicetest runs a real "polytropon serve" process for tests: it
// builds the binary once per test binary (with -race when the test binary
// has the race detector), starts the service with a fresh System V key,
// waits for its ready line and stops it at cleanup (SIGTERM, then SIGKILL),
// removing a segment a crash left behind. Only tests import it.
//
// The binary comes from internal/testenv: a test binary that uses this
// package calls testenv.RemoveBuilt from its TestMain after m.Run, so the
// built binary does not outlive the run.
package servicetest

import (
	"bufio"
	"bytes"
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

	"polytropon/internal/testenv"
	"polytropon/ipc/shm"
)

// ErrExited: the service exited before it printed its ready line.
var ErrExited = errors.New("servicetest: service exited before it was ready")

// Options say how to start the service.
type Options struct {
	Key             int           // System V key; 0 picks a random one (passed as -key)
	Config          string        // TOML text, written to a file and passed with -config
	Args            []string      // further serve flags (they override Config)
	NewIPCNamespace bool          // run the service in a new IPC namespace
	ReadyTimeout    time.Duration // how long to wait for the ready line (0: 20 s)
	StopTimeout     time.Duration // how long Stop waits after SIGTERM before SIGKILL (0: 5 s)
}

// Log collects a process's stderr; safe for concurrent use.
type Log struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Service is a running (or exited) "polytropon serve" process.
type Service struct {
	Key int
	Cmd *exec.Cmd
	Log *Log // the service's stderr

	stopTimeout time.Duration
	done        chan error // the exit status, put back after each read

	mu      sync.Mutex
	killed  bool // by the test, with SIGKILL
	handled bool // the test stopped, killed or waited for it itself
}

// Start starts the service and waits for its ready line; the test fails
// (with the service log) if it exits first or is not ready in time.
func Start(tb testing.TB, o Options) *Service {
	tb.Helper()
	s, err := Launch(tb, o)
	if err != nil {
		tb.Fatalf("%v; log:\n%s", err, s.Log)
	}
	return s
}

// Launch is Start for a service that may fail to start: it returns
// ErrExited (wrapping the exit status) when the process exits before its
// ready line. Not being ready in time still fails the test. Cleanup stops
// the service, reports a failed exit the test did not look at itself
// (Stop, Kill, Wait) and a data race the service's race detector found,
// removes a leftover segment and logs the service's output if the test
// failed.
func Launch(tb testing.TB, o Options) (*Service, error) {
	tb.Helper()
	bin := testenv.Polytropon(tb)
	s := &Service{Key: o.Key, Log: &Log{}, stopTimeout: o.StopTimeout, done: make(chan error, 1)}
	if s.Key == 0 {
		s.Key = 1 + int(rand.Int32N(1<<30))
	}
	if s.stopTimeout == 0 {
		s.stopTimeout = 5 * time.Second
	}
	ready := o.ReadyTimeout
	if ready == 0 {
		ready = 20 * time.Second
	}
	args := []string{"serve", "-key", fmt.Sprint(s.Key)}
	if o.Config != "" {
		f := filepath.Join(tb.TempDir(), "serve.toml")
		if err := os.WriteFile(f, []byte(o.Config), 0o644); err != nil {
			tb.Fatal(err)
		}
		args = append(args, "-config", f)
	}
	s.Cmd = exec.Command(bin, append(args, o.Args...)...)
	s.Cmd.Stderr = s.Log
	if o.NewIPCNamespace {
		s.Cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	}
	stdout, err := s.Cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { s.done <- s.Cmd.Wait() }()
	tb.Cleanup(func() { s.cleanup(tb) })
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			default:
			}
		}
	}()
	select {
	case line := <-lines:
		if !strings.HasPrefix(line, "ready ") {
			tb.Fatalf("service said %q, want a ready line; log:\n%s", line, s.Log)
		}
		return s, nil
	case err := <-s.done:
		s.done <- err
		return s, fmt.Errorf("%w (%v)", ErrExited, err)
	case <-time.After(ready):
		tb.Fatalf("service not ready after %v; log:\n%s", ready, s.Log)
		return s, nil
	}
}

// Pid is the service's process id.
func (s *Service) Pid() int { return s.Cmd.Process.Pid }

// Wait waits for the exit and returns its status (repeatable).
func (s *Service) Wait() error {
	s.mu.Lock()
	s.handled = true
	s.mu.Unlock()
	return s.wait()
}

func (s *Service) wait() error {
	err := <-s.done
	s.done <- err
	return err
}

// Stop sends SIGTERM, waits for the exit (SIGKILL and a test error after
// the stop timeout) and returns the exit status. Later calls return the
// same status.
func (s *Service) Stop(tb testing.TB) error {
	tb.Helper()
	s.mu.Lock()
	s.handled = true
	s.mu.Unlock()
	return s.stop(tb)
}

func (s *Service) stop(tb testing.TB) error {
	select {
	case err := <-s.done: // already exited
		s.done <- err
		return err
	default:
	}
	s.Cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		return err
	case <-time.After(s.stopTimeout):
		s.mu.Lock()
		s.killed = true
		s.mu.Unlock()
		// SIGQUIT makes the Go runtime print every goroutine's stack to
		// the log before it exits: where the stop hangs.
		s.Cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case err := <-s.done:
			s.done <- err
		case <-time.After(2 * time.Second):
			s.Cmd.Process.Kill()
		}
		tb.Errorf("service did not stop within %v of SIGTERM; log (with the goroutines at SIGQUIT):\n%s", s.stopTimeout, s.Log)
		return s.wait()
	}
}

// Kill kills the service with SIGKILL (no chance to clean up) and waits
// for it.
func (s *Service) Kill() {
	s.mu.Lock()
	s.killed, s.handled = true, true
	s.mu.Unlock()
	s.Cmd.Process.Signal(syscall.SIGKILL)
	s.wait()
}

func (s *Service) cleanup(tb testing.TB) {
	err := s.stop(tb)
	if seg, serr := shm.Open(s.Key); serr == nil {
		seg.Remove()
		seg.Detach()
	}
	s.mu.Lock()
	report := err != nil && !s.killed && !s.handled
	s.mu.Unlock()
	if report {
		tb.Errorf("service exited with %v", err)
	}
	if strings.Contains(s.Log.String(), "DATA RACE") {
		tb.Errorf("the race detector found a data race in the service")
	}
	if tb.Failed() {
		tb.Logf("service log:\n%s", s.Log)
	}
}

// WaitFor polls cond every 20 ms until it holds or d passes, and returns
// its last value: for effects of the service that arrive asynchronously
// (log lines through the pipe, counters, exits).
func WaitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}
