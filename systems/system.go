// Package systems holds the systems under test of the harness, one per file,
// each registered by its paper label (table 1 of the digest): D (the
// user-level stack: filesystem service + preload library, FUSE legacy path),
// F and FP (our service's FUSE mount without and with the kernel page cache),
// K and K/K (kernel filesystems, kernel overlay), and the Ceph variants.
//
// A system prepares, for each pool, the filesystems of the pool's containers
// (each a root over a shared read-only lower branch when the experiment asks
// for clones) and tears them down. A system that cannot run on this host says
// why through Check; the harness records the reason and skips it.
package systems

import (
	"context"
	"errors"

	"polytropon/internal/registry"
)

// System is one system under test.
type System interface {
	// Name is the paper label ("D", "F", "FP", "K", "K/K", "F/F", ...).
	Name() string
	// Check returns nil if the system can run here, else an error wrapping
	// ErrUnavailable that says what is missing (package, kernel feature).
	Check() error
	// Setup prepares the filesystems of one pool. It may start processes
	// inside the pool (the filesystem service of D runs there).
	Setup(ctx context.Context, p Pool, req Request) (Instance, error)
}

// Request says what one pool needs.
type Request struct {
	Pool       int    // pool index, for names
	Containers int    // number of containers (clones) in the pool
	WorkDir    string // host directory this system may use for the pool (created, empty)
	// Lower, when set, is a host directory with the read-only image that
	// every container sees below its private writable branch (scale-up
	// clones). Systems without union support fail Setup when it is set.
	Lower string
	// Backend selects the storage below the system: "local" (this host)
	// or "ceph" (the cluster from scripts/ceph-up.sh).
	Backend string
	// Options are system-specific settings from the experiment file.
	Options map[string]string
	// Oversubscribed reports that the pool shares its cores with other
	// pools (more pools x cores than the host has). Systems that would spin
	// on their cores (D's service threads) should sleep instead.
	Oversubscribed bool
	// ServiceEnv is extra environment ("K=V") for the filesystem-service
	// processes the system starts in the pool (D's polytropon serve): the
	// runner's collectors reach the service through it.
	ServiceEnv []string
}

// Instance is a system set up for one pool.
type Instance interface {
	// Container describes container i (0 <= i < Request.Containers).
	Container(i int) Container
	// Teardown unmounts and stops everything Setup made, also after a
	// failure; it is safe to call more than once.
	Teardown(ctx context.Context) error
}

// Container is how a workload inside the pool reaches its filesystem. It is
// plain data, so the harness can hand it to the workload agent process that
// runs inside the pool.
type Container struct {
	Dir     string   `json:"dir"`      // data directory as the kernel sees it inside the pool
	ProcEnv []string `json:"proc_env"` // environment for external programs (LD_PRELOAD=... for D)
	FS      FSSpec   `json:"fs"`       // how a Go workload opens the same directory as a libservice
}

// FSSpec names an opener registered with RegisterOpener and its arguments.
type FSSpec struct {
	Kind    string            `json:"kind"` // "host" for plain kernel calls on Dir; "client" for the IPC client of D
	Options map[string]string `json:"options,omitempty"`
}

// ErrUnavailable marks a system (or opener) that cannot run on this host.
var ErrUnavailable = errors.New("systems: not available on this host")

// registered are the systems by paper label.
var registered = registry.New[System]("systems", "system")

// Register adds a system; for init functions only (panics on duplicates).
func Register(s System) { registered.Register(s.Name(), s) }

// Lookup returns the named system.
func Lookup(name string) (System, error) { return registered.Lookup(name) }

// Names lists the registered systems.
func Names() []string { return registered.Names() }
