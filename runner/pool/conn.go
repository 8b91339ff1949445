package pool

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// EnginePath is the executable started as a pool engine. Any binary that
// imports this package can be one (see MaybeRunInit).
var EnginePath = "/proc/self/exe"

// engineConn is the runner's side of one engine.
type engineConn struct {
	pid  int
	cmd  *exec.Cmd
	sock int
	log  *tailBuffer // the engine's stderr, for error messages

	mu      sync.Mutex // guards the fields below and socket writes
	nextID  uint64
	pending map[uint64]chan spawnReply
	procs   map[int]*engineProc // by pool pid
	closed  bool
	dead    chan struct{} // closed when the reader stops
	exited  chan struct{} // closed when the engine process was reaped
}

type spawnReply struct {
	proc *engineProc
	err  error
}

// startEngine starts the engine process; it does nothing until init.
func startEngine(s Spec) (*engineConn, error) {
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pool %s: socketpair: %w", s.Name, err)
	}
	child := os.NewFile(uintptr(pair[1]), "pool-engine-sock")
	defer child.Close()
	logR, logW, err := os.Pipe()
	if err != nil {
		unix.Close(pair[0])
		return nil, err
	}
	defer logW.Close()

	cmd := &exec.Cmd{
		Path:       EnginePath,
		Args:       []string{"polytropon-pool-engine", s.Name},
		Env:        []string{envEngine + "=" + s.Name, "PATH=" + os.Getenv("PATH")},
		Stderr:     logW,
		Stdout:     logW,
		ExtraFiles: []*os.File{child}, // fd 3 = engineSockFd
		SysProcAttr: &syscall.SysProcAttr{
			Setsid:    true,         // Ctrl-C on the terminal reaches the runner, not the pools
			Pdeathsig: unix.SIGKILL, // the pool dies with the runner
		},
	}
	if s.Namespaces {
		cmd.SysProcAttr.Cloneflags = unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWPID | unix.CLONE_NEWUTS
	}
	var err2 error
	onSpawnThread(func() { err2 = cmd.Start() })
	if err := err2; err != nil {
		unix.Close(pair[0])
		logR.Close()
		return nil, fmt.Errorf("pool %s: start engine %s: %w", s.Name, EnginePath, err)
	}
	e := &engineConn{
		pid:     cmd.Process.Pid,
		cmd:     cmd,
		sock:    pair[0],
		log:     &tailBuffer{max: 4096},
		pending: map[uint64]chan spawnReply{},
		procs:   map[int]*engineProc{},
		dead:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	go e.log.drain(logR)
	go func() { cmd.Wait(); close(e.exited) }()
	return e, nil
}

// init sends the setup request and waits for the engine to be ready.
func (e *engineConn) init(s Spec, timeout time.Duration) error {
	if err := e.send(&message{Op: "init", Hostname: s.Name, Namespaces: s.Namespaces}, nil); err != nil {
		return fmt.Errorf("pool %s: engine init: %w", s.Name, err)
	}
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxFds))
	// A deadline on the socket: a wedged engine must not hang Create.
	tv := unix.NsecToTimeval(timeout.Nanoseconds())
	unix.SetsockoptTimeval(e.sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	m, fds, err := recvMessage(e.sock, buf, oob)
	closeAll(fds)
	unix.SetsockoptTimeval(e.sock, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{})
	if err != nil {
		return fmt.Errorf("pool %s: engine did not get ready: %w (engine output: %q)", s.Name, err, e.log.String())
	}
	if m.Op != "ready" || m.Err != "" {
		return fmt.Errorf("pool %s: engine setup failed: %s %s (engine output: %q)", s.Name, m.Op, m.Err, e.log.String())
	}
	go e.read()
	return nil
}

func (e *engineConn) send(m *message, fds []int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrEngineGone
	}
	return sendMessage(e.sock, m, fds)
}

// read dispatches the engine's replies and exit notices until the socket
// closes, then fails whatever is still waiting.
func (e *engineConn) read() {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4*maxFds))
	for {
		m, fds, err := recvMessage(e.sock, buf, oob)
		if err != nil {
			break
		}
		switch m.Op {
		case "spawned":
			e.spawned(m, fds)
		case "exit":
			closeAll(fds)
			e.mu.Lock()
			p := e.procs[m.PoolPid]
			delete(e.procs, m.PoolPid)
			e.mu.Unlock()
			if p != nil {
				p.finish(m.Status, nil)
			}
		default:
			closeAll(fds)
		}
	}
	e.mu.Lock()
	e.closed = true
	pending, procs := e.pending, e.procs
	e.pending, e.procs = map[uint64]chan spawnReply{}, map[int]*engineProc{}
	e.mu.Unlock()
	for _, ch := range pending {
		ch <- spawnReply{err: ErrEngineGone}
	}
	for _, p := range procs {
		p.finish(0, fmt.Errorf("%w: no exit status for pid %d", ErrEngineGone, p.pid))
	}
	close(e.dead)
}

func (e *engineConn) spawned(m *message, fds []int) {
	e.mu.Lock()
	ch := e.pending[m.ID]
	delete(e.pending, m.ID)
	e.mu.Unlock()
	if ch == nil {
		// Nobody waits for it (a duplicate, or the reader is closing):
		// still let the engine reap the process when it exits.
		if m.PoolPid > 0 {
			e.send(&message{Op: "ack", PoolPid: m.PoolPid}, nil)
		}
		closeAll(fds)
		return
	}
	if m.Err != "" || len(fds) != 1 {
		if m.PoolPid > 0 {
			e.send(&message{Op: "ack", PoolPid: m.PoolPid}, nil)
		}
		closeAll(fds)
		ch <- spawnReply{err: fmt.Errorf("pool: start: %s", m.Err)}
		return
	}
	hostPid, err := pidOfPidfd(fds[0])
	e.send(&message{Op: "ack", PoolPid: m.PoolPid}, nil)
	if err != nil {
		closeAll(fds)
		ch <- spawnReply{err: fmt.Errorf("pool: start: %w", err)}
		return
	}
	p := &engineProc{pid: hostPid, poolPid: m.PoolPid, pidfd: fds[0], done: make(chan struct{})}
	e.mu.Lock()
	e.procs[m.PoolPid] = p
	e.mu.Unlock()
	ch <- spawnReply{proc: p}
}

// pidOfPidfd reads the pid, as seen from our PID namespace, of the
// process a pidfd refers to.
func pidOfPidfd(fd int) (int, error) {
	b, err := os.ReadFile("/proc/self/fdinfo/" + strconv.Itoa(fd))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("pidfd %d: process already gone (Pid: %s)", fd, strings.TrimSpace(v))
			}
			return pid, nil
		}
	}
	return 0, fmt.Errorf("pidfd %d: no Pid in fdinfo", fd)
}

// request sends a spawn request and waits for the reply.
func (e *engineConn) request(m *message, fds []int, done <-chan struct{}) (*engineProc, error) {
	ch := make(chan spawnReply, 1)
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil, ErrEngineGone
	}
	e.nextID++
	m.ID = e.nextID
	e.pending[m.ID] = ch
	err := sendMessage(e.sock, m, fds)
	if err != nil {
		delete(e.pending, m.ID)
	}
	e.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrEngineGone, err)
	}
	select {
	case r := <-ch:
		return r.proc, r.err
	case <-done:
		// The engine still starts the process; reap it in the background.
		go func() {
			if r := <-ch; r.proc != nil {
				r.proc.signal(unix.SIGKILL)
			}
		}()
		return nil, fmt.Errorf("pool: start: %w", context.Canceled)
	}
}

// close kills the engine (and with it a PID-namespaced pool) and stops
// the reader.
func (e *engineConn) kill() {
	e.cmd.Process.Signal(unix.SIGKILL)
}

func (e *engineConn) shutdown() {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	unix.Shutdown(e.sock, unix.SHUT_RDWR) // wakes the reader
}

func (e *engineConn) closeSock() {
	unix.Close(e.sock)
}

// engineProc is the runner's record of one process.
type engineProc struct {
	pid, poolPid int

	mu     sync.Mutex // guards pidfd and the exit fields
	pidfd  int        // -1 after the exit
	done   chan struct{}
	status syscall.WaitStatus
	err    error
	copies sync.WaitGroup // stdio copy goroutines
}

func (p *engineProc) finish(status syscall.WaitStatus, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return
	default:
	}
	p.status, p.err = status, err
	if p.pidfd >= 0 {
		unix.Close(p.pidfd)
		p.pidfd = -1
	}
	close(p.done)
}

func (p *engineProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *engineProc) wait() error {
	<-p.done
	p.copies.Wait()
	if p.err != nil {
		return p.err
	}
	if p.status.Exited() && p.status.ExitStatus() == 0 {
		return nil
	}
	return &ExitError{Pid: p.pid, Status: p.status}
}

func (p *engineProc) signal(sig os.Signal) error {
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("pool: unsupported signal %v", sig)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pidfd < 0 {
		return os.ErrProcessDone
	}
	err := unix.PidfdSendSignal(p.pidfd, s, nil, 0)
	if err == unix.ESRCH {
		return os.ErrProcessDone
	}
	return err
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) drain(r *os.File) {
	defer r.Close()
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			t.mu.Lock()
			t.b = append(t.b, buf[:n]...)
			if len(t.b) > t.max {
				t.b = t.b[len(t.b)-t.max:]
			}
			t.mu.Unlock()
		}
		if err != nil {
			return
		}
	}
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.b))
}

// The parent-death signal fires when the *thread* that forked the child
// exits, and the Go runtime ends threads whose goroutine exits while locked
// to them (LockOSThread without Unlock, anywhere in the binary). Engines are
// therefore forked from one locked thread that never exits.
var (
	spawnOnce sync.Once
	spawnReqs chan func()
)

func onSpawnThread(f func()) {
	spawnOnce.Do(func() {
		spawnReqs = make(chan func())
		go func() {
			runtime.LockOSThread() // never unlocked: this thread lives as long as the process
			for req := range spawnReqs {
				req()
			}
		}()
	})
	done := make(chan struct{})
	spawnReqs <- func() { f(); close(done) }
	<-done
}

func sleepBackoff(i int) {
	time.Sleep(time.Duration(min(1<<i, 50)) * time.Millisecond)
}
