package pool

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The pool engine: PID 1 of a pool. It runs from init, before any other
// package of the binary does work, when envEngine is set.

func init() {
	if os.Getenv(envEngine) != "" {
		os.Exit(runEngine())
	}
}

// MaybeRunInit runs the pool engine and exits when this process was
// started as one, and returns otherwise. The package's init function already
// does this, so calling it first in main or TestMain only documents that the
// binary can host engines.
func MaybeRunInit() {
	if os.Getenv(envEngine) != "" {
		os.Exit(runEngine())
	}
}

type engine struct {
	sock int

	mu      sync.Mutex // serializes spawning against reaping, and socket writes
	tracked map[int]bool
	// unacked holds spawned pids whose host pid the runner has not read
	// yet (from the pidfd's fdinfo, which needs the pid unreaped); reaping
	// waits until it is empty.
	unacked    map[int]bool
	reapWanted bool
	// wantedSince is when a reap was first deferred for missing acks; past
	// maxAckWait the engine reaps anyway, so a lost ack (a runner that
	// gave up on a start) can never leave the pool's exits unreported.
	wantedSince time.Time
}

// maxAckWait bounds how long reaping waits for the runner's acks.
const maxAckWait = 2 * time.Second

func runEngine() int {
	e := &engine{sock: engineSockFd, tracked: map[int]bool{}, unacked: map[int]bool{}}
	unix.CloseOnExec(e.sock) // children must not hold the runner's socket open
	if err := e.serve(); err != nil {
		fmt.Fprintf(os.Stderr, "pool engine %s: %v\n", os.Getenv(envEngine), err)
		return 1
	}
	return 0
}

func (e *engine) serve() error {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(maxFds*4))

	m, fds, err := recvMessage(e.sock, buf, oob)
	if err != nil {
		return fmt.Errorf("waiting for init: %w", err)
	}
	closeAll(fds)
	if m.Op != "init" {
		return fmt.Errorf("first message is %q, want init", m.Op)
	}
	reply := &message{Op: "ready"}
	if err := setupEngine(m); err != nil {
		reply.Err = err.Error()
	}
	if err := e.send(reply, nil); err != nil || reply.Err != "" {
		return fmt.Errorf("setup: %s", reply.Err)
	}

	sigc := make(chan os.Signal, 16)
	signal.Notify(sigc, unix.SIGCHLD)
	// Catch (not ignore: children would inherit SIG_IGN) what would kill
	// a pool without a PID namespace; the runner ends pools with SIGKILL.
	signal.Notify(make(chan os.Signal, 1), unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGPIPE)
	go func() {
		tick := time.NewTicker(maxAckWait / 2)
		defer tick.Stop()
		for {
			select {
			case <-sigc:
			case <-tick.C:
				e.mu.Lock()
				stale := e.reapWanted && time.Since(e.wantedSince) > maxAckWait
				if stale {
					clear(e.unacked) // their acks are not coming
				}
				e.mu.Unlock()
				if !stale {
					continue
				}
			}
			e.mu.Lock()
			e.reap()
			e.mu.Unlock()
		}
	}()

	for {
		m, fds, err := recvMessage(e.sock, buf, oob)
		if err != nil {
			// The runner is gone: as PID 1 our exit kills the pool.
			return nil
		}
		switch m.Op {
		case "spawn":
			e.spawn(m, fds)
		case "ack":
			closeAll(fds)
			e.mu.Lock()
			delete(e.unacked, m.PoolPid)
			if len(e.unacked) == 0 && e.reapWanted {
				e.reap()
			}
			e.mu.Unlock()
		default:
			closeAll(fds)
			fmt.Fprintf(os.Stderr, "pool engine: unknown request %q\n", m.Op)
		}
	}
}

// setupEngine turns this process into the pool's init.
func setupEngine(m *message) error {
	// Orphans of a pool without its own PID namespace come back to us.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	if !m.Namespaces {
		return nil
	}
	// Receive the host's later mounts, never send ours.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	// A /proc of our PID namespace: pid 1 is this engine.
	if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("mount /proc: %w", err)
	}
	if err := unix.Sethostname([]byte(m.Hostname)); err != nil {
		return fmt.Errorf("sethostname %q: %w", m.Hostname, err)
	}
	return nil
}

func (e *engine) send(m *message, fds []int) error {
	return sendMessage(e.sock, m, fds)
}

func (e *engine) spawn(m *message, fds []int) {
	defer closeAll(fds)
	reply := &message{Op: "spawned", ID: m.ID}
	e.mu.Lock()
	defer e.mu.Unlock()
	files := make([]uintptr, len(fds))
	for i, fd := range fds {
		files[i] = uintptr(fd)
	}
	pid, err := syscall.ForkExec(m.Path, m.Args, &syscall.ProcAttr{
		Dir:   m.Dir,
		Env:   m.Env,
		Files: files,
		Sys:   &syscall.SysProcAttr{},
	})
	if err != nil {
		reply.Err = fmt.Sprintf("exec %s: %v", m.Path, err)
		e.send(reply, nil)
		return
	}
	e.tracked[pid] = true
	e.unacked[pid] = true
	reply.PoolPid = pid
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		// Cannot happen before we reap it; report anyway.
		reply.Err = fmt.Sprintf("pidfd_open %d: %v", pid, err)
		delete(e.unacked, pid)
		unix.Kill(pid, unix.SIGKILL)
		e.send(reply, nil)
		return
	}
	defer unix.Close(pidfd)
	if err := e.send(reply, []int{pidfd}); err != nil {
		fmt.Fprintf(os.Stderr, "pool engine: reply: %v\n", err)
	}
}

// reap collects every zombie of the pool and reports the processes the
// runner started. Called with mu held.
func (e *engine) reap() {
	if len(e.unacked) > 0 {
		if !e.reapWanted {
			e.wantedSince = time.Now()
		}
		e.reapWanted = true // after the acks
		return
	}
	e.reapWanted = false
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil || pid <= 0 {
			return
		}
		if e.tracked[pid] {
			delete(e.tracked, pid)
			e.send(&message{Op: "exit", PoolPid: pid, Status: syscall.WaitStatus(ws)}, nil)
		}
	}
}
