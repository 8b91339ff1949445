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
	"fmt"
	"os"
	"path/filepath"

	"polytropon/internal/registry"
)

// System is one system under test.
type System interface {
	// Name is the paper label ("D", "F", "FP", "K", "K/K", "F/F", ...).
	Name() string
	// Check returns nil if the system can run here, else an error wrapping
	// ErrUnavailable that says what is missing (package, kernel feature).
	Check() error
	// NewOptions returns a fresh value of the system's options: a pointer
	// to its options struct with the defaults filled in, into which an
	// experiment's [options.<name>] table is decoded (toml tags; see
	// config.Experiment.SystemOptions), or nil when the system takes no
	// options. The system's doc comment lists them.
	NewOptions() any
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
	// Options are the system's options: a value of the type its
	// NewOptions returns, decoded from the experiment's
	// [options.<name>]; nil means the defaults. Systems do not change it.
	Options any
	// Ceph is the cluster of the ceph backend (the experiment's [ceph]
	// table); a Ceph system's options ceph_conf, ceph_keyring, ceph_user
	// and ceph_fs_name override it.
	Ceph CephCluster
	// Tenants, when set, are the tenants of the pool's shared cache:
	// container i is tenant i (the runner sets them from [tenants] when the
	// tenants are the containers of one pool and the system applies
	// tenant cache policies; docs/cache.md). Systems that do not apply
	// them leave them unused.
	Tenants *Tenants
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

// NewOptions returns the options of the named system with their defaults
// (System.NewOptions); nil for a system without options or one that is
// not registered.
func NewOptions(name string) any {
	s, err := Lookup(name)
	if err != nil {
		return nil
	}
	return s.NewOptions()
}

// optionsOf returns the request's options as the system's options struct
// O: the system's defaults when the request has none, an error naming the
// system when they are of another type or invalid (their Validate method).
func optionsOf[O any](s System, req Request) (*O, error) {
	opts := req.Options
	if opts == nil {
		opts = s.NewOptions()
	}
	o, ok := opts.(*O)
	if !ok || o == nil {
		return nil, fmt.Errorf("systems: %s: options of type %T, want %T", s.Name(), req.Options, o)
	}
	if v, ok := opts.(interface{ Validate() error }); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("systems: %s: %w", s.Name(), err)
		}
	}
	return o, nil
}

// checkRequest checks what every system needs of a request: a backend it
// runs on (one it does not run on is ErrUnavailable, with hint saying
// what to use instead), at least one container, and a WorkDir.
func checkRequest(system string, req Request, backend, hint string) error {
	switch b := req.Backend; {
	case b == backend, b == "" && backend == "local":
	case b == "", b == "local", b == "ceph":
		return fmt.Errorf("%w: %s %s", ErrUnavailable, system, hint)
	case backend == "ceph":
		return fmt.Errorf("systems: %s: unknown backend %q (want ceph)", system, b)
	default:
		return fmt.Errorf("systems: %s: unknown backend %q (want local or ceph)", system, b)
	}
	if req.Containers < 1 {
		return fmt.Errorf("systems: %s: pool %d asks for %d containers", system, req.Pool, req.Containers)
	}
	if req.WorkDir == "" {
		return fmt.Errorf("systems: %s: empty WorkDir", system)
	}
	return nil
}

// lowerDir checks the request's shared read-only image (Request.Lower) and
// returns it as an absolute path ("" when the request has none).
func lowerDir(system string, req Request) (string, error) {
	if req.Lower == "" {
		return "", nil
	}
	abs, err := filepath.Abs(req.Lower)
	if err == nil {
		var st os.FileInfo
		if st, err = os.Stat(abs); err == nil && !st.IsDir() {
			err = errors.New("not a directory")
		}
	}
	if err != nil {
		return "", fmt.Errorf("systems: %s: lower image %q is not a directory (%v)", system, req.Lower, err)
	}
	return abs, nil
}

// setupFailed tears down what a failed Setup made (in) and reports the
// failure, and a failed cleanup, for pool req.Pool.
func setupFailed(ctx context.Context, system string, req Request, in Instance, err error) error {
	if terr := in.Teardown(context.WithoutCancel(ctx)); terr != nil {
		err = errors.Join(err, fmt.Errorf("cleanup after failed setup: %w", terr))
	}
	return fmt.Errorf("systems: %s setup of pool %d: %w", system, req.Pool, err)
}
