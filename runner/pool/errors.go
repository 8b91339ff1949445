package pool

import (
	"errors"
	"fmt"
	"syscall"
)

var (
	// ErrInvalidSpec means a Spec or Cmd field is wrong; the error names it.
	ErrInvalidSpec = errors.New("pool: invalid spec")
	// ErrDestroyed is returned by Start after Destroy.
	ErrDestroyed = errors.New("pool: destroyed")
	// ErrEngineGone means the pool's engine died (or the pool was
	// destroyed) before a request or an exit status completed.
	ErrEngineGone = errors.New("pool: engine gone")
	// ErrUnavailable means this host cannot provision pools (no cgroup
	// hierarchy we can write, not root).
	ErrUnavailable = errors.New("pool: unavailable on this host")
)

// ExitError reports a process that exited with a non-zero status or was
// killed by a signal.
type ExitError struct {
	Pid    int // host pid
	Status syscall.WaitStatus
}

func (e *ExitError) Error() string {
	switch {
	case e.Status.Signaled():
		return fmt.Sprintf("pool: process %d killed by signal %v", e.Pid, e.Status.Signal())
	default:
		return fmt.Sprintf("pool: process %d exited with status %d", e.Pid, e.Status.ExitStatus())
	}
}

// WaitStatus is the status the engine reaped.
func (e *ExitError) WaitStatus() syscall.WaitStatus { return e.Status }

// ExitCode is the exit status, or -1 when a signal killed the process.
func (e *ExitError) ExitCode() int {
	if e.Status.Exited() {
		return e.Status.ExitStatus()
	}
	return -1
}
