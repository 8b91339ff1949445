// Package pool provisions tenant pools: reserved cores (cpuset), a memory
// limit, their own mount, IPC, PID and UTS namespaces, and a cgroup-v2 label.
// Every process of a pool starts already inside it.
//
// # Design
//
// Create makes the pool's cgroups (cgroup v1 cpuset, cpu, cpuacct, memory,
// pids and blkio hierarchies on hybrid or legacy hosts, one cgroup-v2
// directory with cpuset and memory on unified hosts, plus a directory in the
// unified hierarchy as the pool's label for tracing, PSI and cgroup.kill) and
// then starts the pool engine: this executable re-exec'd from
// /proc/self/exe with CLONE_NEWNS|CLONE_NEWIPC|CLONE_NEWPID|CLONE_NEWUTS.
// The runner writes the engine's pid into every cgroup of the pool before it
// lets the engine do anything; the engine then becomes PID 1 of the pool
// (it mounts its own /proc, makes its mount tree a slave of the host's, sets
// the hostname to the pool name) and serves spawn requests from the runner
// over a socket pair, stdio passed with SCM_RIGHTS. Its children inherit the
// cgroups and namespaces, like the paper's container engine forking
// containers, so there is no add-after-start race. The engine reaps every
// zombie of the pool and reports the exit status of the processes it started.
//
// The engine entry point runs from this package's init function when the
// environment switch is set, so any binary that imports pool (the polytropon
// command, test binaries of any package) can host engines; MaybeRunInit
// exists for mains that want to make that explicit.
//
// Mounts: a pool's mount tree is a slave of the host's, so mounts the runner
// makes later under a directory prepared with ShareMounts show up inside the
// pool, while mounts made inside the pool (its FUSE daemons) stay inside.
//
// Cleanup: Destroy kills the pool's PID 1 (the kernel then kills the whole
// PID namespace), writes cgroup.kill of the label directory, waits for every
// cgroup to be empty and removes the cgroups and their empty parents. If the
// runner dies, the engines die with it (parent-death signal) and Sweep
// removes what is left of that run's pools.
//
// Lock order: Pool.mu, then engineConn.mu; engineProc.mu and tailBuffer.mu
// are leaves. In the engine process, engine.mu is the only lock.
package pool

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// DefaultGroup is the cgroup parent of pools whose Spec.Group is empty.
const DefaultGroup = "polytropon"

// DestroyTimeout bounds how long Destroy waits for a pool's processes to
// die. Destroy does not give up early when its context is cancelled: it runs
// on the Ctrl-C path.
var DestroyTimeout = 10 * time.Second

// Spec describes one pool.
type Spec struct {
	Name        string // unique within the group; used in cgroup paths and as hostname
	Cores       []int  // cpuset; may overlap other pools when the host is oversubscribed
	MemoryBytes int64  // memory limit; 0 = none
	Namespaces  bool   // new mount+IPC+PID+UTS namespaces (false: host namespaces)
	// Group is the cgroup parent of the pool, relative to each hierarchy's
	// root, e.g. "polytropon/run-20261121T0810"; empty means DefaultGroup.
	// Give every run its own group: Sweep(group) removes a dead run's pools.
	Group string
}

// Cmd is a process to start inside a pool. Like os/exec.Cmd: Args holds
// the command line including the program name as Args[0] (empty: Path
// alone); a Path without a slash is looked up in PATH; nil Env means the
// runner's environment; nil Stdin reads from /dev/null and nil Stdout or
// Stderr discard the output. *os.File values are passed to the process
// directly; other readers and writers are copied through pipes, and Wait
// returns after the copies finish.
type Cmd struct {
	Path   string
	Args   []string
	Env    []string
	Dir    string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// ExtraFiles become fds 3, 4, ... of the process.
	ExtraFiles []*os.File
}

// Pool is a provisioned tenant pool. Its methods are safe for concurrent
// use.
type Pool struct {
	spec   Spec
	cg     cgroupSet
	engine *engineConn // its process is gone after Destroy
	// created is when (CLOCK_MONOTONIC) the pool was made: the kernel log's
	// OOM records from then on are its own (OOMKills).
	created time.Duration

	mu         sync.Mutex // guards destroyed, destroyErr
	destroyed  bool
	destroyErr error
}

// Spec returns the pool's spec, with defaults applied.
func (p *Pool) Spec() Spec {
	s := p.spec
	s.Cores = append([]int(nil), s.Cores...)
	return s
}

// Name returns the pool's name.
func (p *Pool) Name() string { return p.spec.Name }

// Cores returns the pool's cpuset.
func (p *Pool) Cores() []int { return append([]int(nil), p.spec.Cores...) }

// CgroupV1 maps a v1 controller name ("cpuset", "cpu", "cpuacct", "memory",
// "pids", "blkio") to the pool's directory in that hierarchy; nil on
// unified (cgroup-v2 only) hosts.
func (p *Pool) CgroupV1() map[string]string { return p.cg.v1Paths() }

// CgroupV2 returns the pool's directory in the unified hierarchy: its
// label on hybrid hosts (no controllers), its only cgroup on unified hosts.
func (p *Pool) CgroupV2() string { return p.cg.v2Path() }

// EnginePid returns the host pid of the pool's engine (PID 1 of its PID
// namespace when Spec.Namespaces is set).
func (p *Pool) EnginePid() int { return p.engine.pid }

// HostPath returns a path through which the runner sees path as the
// pool's processes do (/proc/<engine pid>/root/<path>): mounts made inside
// the pool, such as a FUSE daemon's, are visible only there.
func (p *Pool) HostPath(path string) string {
	return filepath.Join(fmt.Sprintf("/proc/%d/root", p.engine.pid), path)
}

// PIDs returns the host pids of every process in the pool, the engine
// included, read from the pool's cgroup.
func (p *Pool) PIDs() ([]int, error) { return p.cg.procs() }

// Create provisions a pool and starts its engine. On error nothing is left
// behind.
func Create(ctx context.Context, s Spec) (*Pool, error) { return create(ctx, s) }

// Start starts a process inside the pool. ctx bounds the start request
// only, not the process's lifetime: Destroy (or Process.Signal) ends it.
func (p *Pool) Start(ctx context.Context, c Cmd) (*Process, error) { return p.start(ctx, c) }

// Run starts c inside the pool and waits for it.
func (p *Pool) Run(ctx context.Context, c Cmd) error {
	proc, err := p.Start(ctx, c)
	if err != nil {
		return err
	}
	return proc.Wait()
}

// Destroy kills every process of the pool, waits for them (at most
// DestroyTimeout) and removes the pool's cgroups, including parent
// directories of the group that became empty. Mounts made inside the pool
// go away with its mount namespace when its last process dies. It is idempotent and safe to
// call with a cancelled context (Ctrl-C path) and concurrently with Start.
func (p *Pool) Destroy(ctx context.Context) error { return p.destroy(ctx) }

// Process is a process started inside a pool.
type Process struct {
	Pid     int // host pid
	PoolPid int // pid inside the pool's PID namespace (= Pid without namespaces)

	proc *engineProc
}

// Wait waits for the process to exit and for its stdio copies to finish.
// It returns nil on exit status 0, an *ExitError otherwise, or an error
// wrapping ErrEngineGone when the pool was destroyed or its engine died
// before the exit status arrived. Wait may be called more than once.
func (p *Process) Wait() error { return p.proc.wait() }

// Signal sends sig to the process (through a pidfd: it never hits a
// recycled pid). After the exit it returns os.ErrProcessDone.
func (p *Process) Signal(sig os.Signal) error { return p.proc.signal(sig) }

// HostPid is the process's host pid (Pid).
func (p *Process) HostPid() int { return p.Pid }

// Exited reports whether the exit status has arrived.
func (p *Process) Exited() bool { return p.proc.exited() }
