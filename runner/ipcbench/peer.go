package ipcbench

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	xcopy "polytropon/ipc/copy"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// PeerEnv is the environment variable that turns a test binary into a
// peer process (see EnvLauncher and MainIfPeer).
const PeerEnv = "POLYTROPON_IPC_PEER"

// Peer modes.
const (
	ModePingPong = "pingpong" // bounce the word at offset 0 of the segment
	ModeQueue    = "queue"    // serve requests: dequeue from one queue, enqueue on the other
	ModeCMA      = "cma"      // hold a patterned buffer for cross-memory reads
	ModeStage    = "stage"    // back driver of a staged copy: staging buffer -> own buffer
)

// PeerConfig is what a peer process is told on its command line.
type PeerConfig struct {
	Mode       string
	ShmID      int    // System V segment id (pingpong, queue)
	Design     string // queue design (queue)
	Wait       string // wait strategy (queue)
	Capacity   int    // queue capacity (queue)
	SpinBudget int    // queue spin budget (queue)
	ReqOff     int    // offset of the request queue in the segment (queue)
	RespOff    int    // offset of the response queue (queue)
	Size       int    // bytes of the buffer (cma, stage)
	Method     string // copy method whose Stage routine the back driver runs (stage)
	CPU        int    // CPU to pin the serving thread to; -1 only locks it to its thread, -2 leaves it free
}

// Flags binds the fields to fs (used by the _ipcpeer subcommand and tests).
func (c *PeerConfig) Flags(fs *flag.FlagSet) {
	fs.StringVar(&c.Mode, "mode", "", "pingpong, queue or cma")
	fs.IntVar(&c.ShmID, "shm", -1, "System V segment id")
	fs.StringVar(&c.Design, "design", "", "queue design")
	fs.StringVar(&c.Wait, "wait", "spin", "wait strategy")
	fs.IntVar(&c.Capacity, "capacity", 0, "queue capacity")
	fs.IntVar(&c.SpinBudget, "spin-budget", 0, "queue spin budget")
	fs.IntVar(&c.ReqOff, "req-off", 0, "request queue offset")
	fs.IntVar(&c.RespOff, "resp-off", 0, "response queue offset")
	fs.IntVar(&c.Size, "size", 0, "cma or stage buffer size")
	fs.StringVar(&c.Method, "method", "", "copy method (stage)")
	fs.IntVar(&c.CPU, "cpu", cpuLockOnly, "cpu to pin to (-1: lock to a thread only, -2: leave free)")
}

// Args is the command line that Flags parses back into c.
func (c PeerConfig) Args() []string {
	return []string{
		"-mode=" + c.Mode, "-shm=" + strconv.Itoa(c.ShmID), "-design=" + c.Design,
		"-wait=" + c.Wait, "-capacity=" + strconv.Itoa(c.Capacity),
		"-spin-budget=" + strconv.Itoa(c.SpinBudget), "-req-off=" + strconv.Itoa(c.ReqOff),
		"-resp-off=" + strconv.Itoa(c.RespOff), "-size=" + strconv.Itoa(c.Size), "-method=" + c.Method,
		"-cpu=" + strconv.Itoa(c.CPU),
	}
}

// RunPeer is the body of a peer process. It sets up, writes one line
// "ready pid=P addr=A" to stdout, serves until the protocol ends or stdin
// reaches EOF (the parent's way to say stop, also when it dies), and
// returns.
func RunPeer(cfg PeerConfig, stdin io.Reader, stdout io.Writer) error {
	var stop atomic.Bool
	stopped := make(chan struct{})
	go func() {
		io.Copy(io.Discard, stdin)
		stop.Store(true)
		close(stopped)
	}()
	switch cfg.Mode {
	case ModeCMA, ModePingPong, ModeQueue, ModeStage:
	default:
		return fmt.Errorf("bench: peer: unknown mode %q (want %s, %s, %s or %s)", cfg.Mode, ModePingPong, ModeQueue, ModeCMA, ModeStage)
	}
	if err := pinTo(cfg.CPU); err != nil {
		return err
	}
	switch cfg.Mode {
	case ModeCMA:
		if cfg.Size <= 0 {
			return fmt.Errorf("bench: peer: cma needs -size > 0, got %d", cfg.Size)
		}
		buf := alignedBytes(cfg.Size, 4096)
		fillPattern(buf)
		fmt.Fprintf(stdout, "ready pid=%d addr=%#x\n", os.Getpid(), xcopy.Addr(buf))
		<-stopped
		_ = buf[len(buf)-1] // keep buf alive until the parent is done
		return nil
	}
	seg, err := shm.Attach(cfg.ShmID)
	if err != nil {
		return fmt.Errorf("bench: peer: %w", err)
	}
	defer seg.Detach()
	mem := seg.Bytes()
	if cfg.Mode == ModePingPong {
		w, err := wordAt(mem, 0)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ready pid=%d addr=0\n", os.Getpid())
		return servePingPong(w, &stop, nil)
	}
	if cfg.Mode == ModeStage {
		return serveStage(cfg, mem, &stop, stdout)
	}
	d, err := queue.Lookup(cfg.Design)
	if err != nil {
		return fmt.Errorf("bench: peer: %w", err)
	}
	wait, err := queue.ParseWait(cfg.Wait)
	if err != nil {
		return fmt.Errorf("bench: peer: %w", err)
	}
	qc := queue.Config{Capacity: cfg.Capacity, Wait: wait, SpinBudget: cfg.SpinBudget, Timeout: time.Second}
	req, resp, err := attachPair(d, mem, cfg.ReqOff, cfg.RespOff, qc, false)
	if err != nil {
		return err
	}
	// Stop closing the request queue wakes the server; the goroutine is
	// done before the segment is detached.
	served, closer := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(closer)
		select {
		case <-stopped:
			req.Close()
		case <-served:
		}
	}()
	fmt.Fprintf(stdout, "ready pid=%d addr=0\n", os.Getpid())
	err = serveQueue(req, resp, &stop)
	close(served)
	<-closer
	return err
}

// serveQueue answers every request with the same value until the request
// queue is closed; timeouts only make it look at stop.
func serveQueue(req, resp queue.Queue, stop *atomic.Bool) error {
	for {
		v, err := req.Dequeue()
		switch {
		case errors.Is(err, queue.ErrTimeout) && !stop.Load():
			continue
		case errors.Is(err, queue.ErrClosed), stop.Load():
			return nil
		case err != nil:
			return fmt.Errorf("bench: peer: dequeue request: %w", err)
		}
		for {
			err = resp.Enqueue(v)
			if !errors.Is(err, queue.ErrTimeout) || stop.Load() {
				break
			}
		}
		if errors.Is(err, queue.ErrClosed) || stop.Load() {
			return nil
		}
		if err != nil {
			return fmt.Errorf("bench: peer: enqueue response: %w", err)
		}
	}
}

// attachPair builds (init) or attaches to the request and response queues
// of design d at the given offsets of mem.
func attachPair(d queue.Design, mem []byte, reqOff, respOff int, qc queue.Config, init bool) (req, resp queue.Queue, err error) {
	size := d.Size(qc)
	for _, off := range []int{reqOff, respOff} {
		if off < 0 || off+size > len(mem) {
			return nil, nil, fmt.Errorf("bench: %s queue of %d bytes at %d does not fit a %d-byte segment", d.Name, size, off, len(mem))
		}
	}
	if req, err = d.New(mem[reqOff:reqOff+size:reqOff+size], qc, init); err != nil {
		return nil, nil, fmt.Errorf("bench: %s request queue: %w", d.Name, err)
	}
	if resp, err = d.New(mem[respOff:respOff+size:respOff+size], qc, init); err != nil {
		return nil, nil, fmt.Errorf("bench: %s response queue: %w", d.Name, err)
	}
	return req, resp, nil
}

// fillPattern writes the deterministic content a CMA peer serves.
func fillPattern(b []byte) {
	for i := range b {
		b[i] = byte(i*131 + 7)
	}
}

// Launcher makes the command that starts a peer process with args; the
// caller sets stdio and starts it.
type Launcher func(args []string) *exec.Cmd

// SelfLauncher re-executes the running binary as "polytropon _ipcpeer".
func SelfLauncher() (Launcher, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: find own executable: %w", err)
	}
	return func(args []string) *exec.Cmd {
		return exec.Command(exe, append([]string{"_ipcpeer"}, args...)...)
	}, nil
}

// EnvLauncher runs exe (typically a test binary, os.Args[0]) with PeerEnv
// set; its TestMain calls MainIfPeer.
func EnvLauncher(exe string) Launcher {
	return func(args []string) *exec.Cmd {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), PeerEnv+"=1")
		return cmd
	}
}

// MainIfPeer turns the process into a peer when PeerEnv is set: it parses
// the peer flags from os.Args[1:], serves, and exits. Call it first thing
// in TestMain.
func MainIfPeer() {
	if os.Getenv(PeerEnv) != "1" {
		return
	}
	var cfg PeerConfig
	fs := flag.NewFlagSet("ipcpeer", flag.ContinueOnError)
	cfg.Flags(fs)
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if err := RunPeer(cfg, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// peerProc is a running peer process.
type peerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *bytes.Buffer
	pid    int
	addr   uintptr
	reaped chan struct{} // closed once the peer has been waited for
}

const peerStartTimeout = 10 * time.Second

// startPeer starts a peer and waits for its ready line. Call it from a
// goroutine that is not locked to a thread: Pdeathsig fires when the
// starting thread exits.
func startPeer(l Launcher, cfg PeerConfig) (*peerProc, error) {
	cmd := l(cfg.Args())
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p := &peerProc{cmd: cmd, stderr: &bytes.Buffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("bench: peer stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bench: peer stdout: %w", err)
	}
	// Pdeathsig fires when the thread that forked exits, and Go ends
	// threads whose locked goroutine returns: fork from a thread held by a
	// goroutine that lives until the peer is reaped.
	p.reaped = make(chan struct{})
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := cmd.Start()
		started <- err
		if err == nil {
			<-p.reaped
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("bench: start peer %s: %w", cmd.Path, err)
	}
	line := make(chan string, 1)
	go func() {
		s, _ := bufio.NewReader(out).ReadString('\n')
		line <- s
		io.Copy(io.Discard, out)
	}()
	select {
	case s := <-line:
		if !strings.HasPrefix(s, "ready ") {
			p.stop()
			return nil, fmt.Errorf("bench: peer (%s) did not get ready: %q; stderr: %s", cfg.Mode, s, strings.TrimSpace(p.stderr.String()))
		}
		for _, f := range strings.Fields(s)[1:] {
			k, v, _ := strings.Cut(f, "=")
			n, perr := strconv.ParseUint(v, 0, 64)
			if perr != nil {
				p.stop()
				return nil, fmt.Errorf("bench: peer ready line %q: %w", s, perr)
			}
			switch k {
			case "pid":
				p.pid = int(n)
			case "addr":
				p.addr = uintptr(n)
			}
		}
		return p, nil
	case <-time.After(peerStartTimeout):
		p.stop()
		return nil, fmt.Errorf("bench: peer (%s) not ready after %v; stderr: %s", cfg.Mode, peerStartTimeout, strings.TrimSpace(p.stderr.String()))
	}
}

// stop closes the peer's stdin, waits a little, then kills it; it reports
// a peer that failed.
func (p *peerProc) stop() error {
	p.stdin.Close()
	done := make(chan error, 1)
	go func() {
		err := p.cmd.Wait()
		close(p.reaped)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bench: peer: %w; stderr: %s", err, strings.TrimSpace(p.stderr.String()))
		}
		return nil
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		<-done
		return fmt.Errorf("bench: peer did not exit within 5s, killed")
	}
}
