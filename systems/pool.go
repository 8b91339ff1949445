package systems

import (
	"context"
	"errors"
	"io"
	"os"
	"syscall"
)

// Pool is what a system needs of the tenant pool it sets up: its name and
// cores, a way to see its mount namespace, and processes started inside it
// (its cgroups and namespaces). The runner provisions pools (runner/pool)
// and passes them in; systems never make pools themselves.
type Pool interface {
	// Name is the pool's name ("p0"): service keys and tenants derive
	// from it.
	Name() string
	// Cores is the pool's cpuset.
	Cores() []int
	// EnginePid is the host pid of a process that lives as long as the
	// pool, inside its namespaces: /proc/<pid>/mountinfo lists the pool's
	// mounts.
	EnginePid() int
	// Start starts a process inside the pool. ctx bounds the start only,
	// not the process's lifetime.
	Start(ctx context.Context, c Cmd) (Process, error)
}

// Cmd is a process to start inside a pool, described as os/exec.Cmd
// describes one: Args includes the program name; nil Env is the caller's
// environment; nil Stdin reads /dev/null; nil Stdout or Stderr discards.
type Cmd struct {
	Path       string
	Args       []string
	Env        []string
	Dir        string
	Stdin      io.Reader
	Stdout     io.Writer
	Stderr     io.Writer
	ExtraFiles []*os.File // fds 3, 4, ...
}

// Process is a process started inside a pool.
type Process interface {
	// HostPid is the process's pid as the host sees it.
	HostPid() int
	// Wait waits for the exit and the end of its stdio copies: nil on
	// status 0, an error with a WaitStatus method (ExitStatus) for any
	// other exit, another error when the pool went away first.
	Wait() error
	// Signal sends sig; os.ErrProcessDone after the exit.
	Signal(sig os.Signal) error
	// Exited reports whether the exit status has arrived.
	Exited() bool
}

// ExitStatus returns the wait status of a Process.Wait error that reports
// an exit, and false for nil or for an error that does not (the pool went
// away before the status arrived).
func ExitStatus(err error) (syscall.WaitStatus, bool) {
	var ws interface{ WaitStatus() syscall.WaitStatus }
	if errors.As(err, &ws) {
		return ws.WaitStatus(), true
	}
	return 0, false
}

// runIn starts c in p and waits for it.
func runIn(ctx context.Context, p Pool, c Cmd) error {
	proc, err := p.Start(ctx, c)
	if err != nil {
		return err
	}
	return proc.Wait()
}
