// Package pool provisions tenant pools: reserved cores (cpuset), a memory
// limit, their own mount, IPC, PID and UTS namespaces, and a cgroup-v2 label.
// Every process of a pool starts already inside it.
//
// API contract (implementation in progress, see issue 6):
//
//	type Spec struct {
//		Name        string // unique within the run; used in cgroup paths
//		Cores       []int  // cpuset; may overlap other pools when the host is oversubscribed
//		MemoryBytes int64  // memory limit; 0 = none
//		Namespaces  bool   // new mount+IPC+PID+UTS namespaces (false: host namespaces)
//	}
//	func Create(ctx context.Context, s Spec) (*Pool, error)
//	func (p *Pool) Spec() Spec
//	func (p *Pool) Start(ctx context.Context, c Cmd) (*Process, error) // process born inside the pool
//	func (p *Pool) Destroy(ctx context.Context) error                  // kill all, unmount, remove cgroups; idempotent
//	type Cmd struct { Path string; Args []string; Env []string; Dir string; Stdout, Stderr io.Writer }
//	type Process struct { Pid int; ... }  // Wait() error, Signal(os.Signal) error
package pool

// Pool is a provisioned tenant pool.
type Pool struct{}
