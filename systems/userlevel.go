package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"polytropon/fs"
	"polytropon/fs/client"
)

// D is the user-level stack of the papers on the local backend: one
// filesystem service per pool ("polytropon serve", started inside the pool
// so it shares the pool's cores, memory limit and IPC and mount
// namespaces) with one instance per container: a union of the container's
// private writable branch over the shared read-only image (Request.Lower,
// one libservice shared by every clone), optionally under a client cache.
//
// The dual interface: the instance's mount path (Container.Dir) is also a
// FUSE mount of the same instance, made by the service inside the pool's
// mount namespace. Dynamically linked programs run with Container.ProcEnv
// (LD_PRELOAD=libpolytropon.so, POLYTROPON_POOL) and Go workloads through
// the "client" opener (Container.FS) reach the instance over the pool's
// shared memory; what the library cannot intercept (exec of a binary, mmap
// of shared libraries, statically linked programs) reaches the same
// instance through the kernel and the FUSE mount at the same path.
//
// Options:
//
//	binary       polytropon executable to run as the service (default:
//	             $POLYTROPON_BIN, this executable if it is polytropon, or
//	             polytropon in PATH)
//	preload      libpolytropon.so to put in ProcEnv (default: built from
//	             fs/preload with make, or $POLYTROPON_PRELOAD)
//	fuse         "false" leaves out the legacy FUSE mounts (default true)
//	fuse_kernel_cache
//	             "true" lets the kernel cache the FUSE mounts (default: direct
//	             I/O and zero timeouts, so both paths agree at once)
//	design, wait, copy, buffers, buffer_size, queues, pin
//	             service settings (see fs/service.Config; pin defaults to true)
//	cache        "false" leaves out the client cache (fs/cache) on top of
//	             each container's union (default true, the papers' D);
//	             cache_<option> sets its options (cache_capacity = "512M",
//	             cache_write_through = "true", ...)
//	odirect      "false" opens the local branches without O_DIRECT
//	             (default true: D keeps no kernel page cache)
//
// Tenant options (set by the runner from [tenants] when the tenants are
// the containers of one pool, the Justitia experiments; docs/cache.md):
//
//	tenant_weights  comma-separated weight of each container ("100,200")
//	tenant_policy   conventional: one shared cache pool (clock2q, FIFO
//	                allocation queue) whose tenant i is container i with
//	                weight i; justitia: the same with the weighted policy
//	                and the weight-ordered queue; direct: no cache
//	tenant_aging    "true": aging in the weighted queue (justitia)
//	tenant_cache    bytes of cache per tenant (the pool is their sum)
//	tenant_slots    concurrent allocations of a full pool (default 1: the
//	                allocation lock)
//
// Every container's branch is then fs/local with O_DIRECT (a local layer
// with odirect), so the kernel page cache does not help; the tenant
// options exclude cache, cache_* and a shared lower image.
func init() {
	Register(&userlevelSystem{})
	RegisterOpener(ClientKind, openClient)
}

// ClientKind is the FSSpec kind of the IPC client of D. Options: "pool"
// (the pool whose service to reach; default $POLYTROPON_POOL), "root" (the
// mount path; default Container.Dir) and "copy" (SMC, SMO or CMA; default
// the service's).
const ClientKind = "client"

func openClient(ctx context.Context, c Container) (fs.Service, error) {
	root := c.FS.Options["root"]
	if root == "" {
		root = c.Dir
	}
	if root == "" {
		return nil, fmt.Errorf("systems: client opener: container has no directory")
	}
	return client.OpenFS(ctx, client.Options{Pool: c.FS.Options["pool"], Copy: c.FS.Options["copy"]}, root)
}

type userlevelSystem struct{}

func (*userlevelSystem) Name() string { return "D" }

// Check reports whether the service binary can be found.
func (*userlevelSystem) Check() error {
	_, err := serviceBinary("")
	return err
}

// Setup writes the pool's service configuration and starts the service
// inside the pool.
func (s *userlevelSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	switch req.Backend {
	case "", "local":
	case "ceph":
		return nil, fmt.Errorf("%w: D runs on the local backend; over Ceph use system D-ceph (docs/ceph.md)", ErrUnavailable)
	default:
		return nil, fmt.Errorf("systems: D: unknown backend %q (want local or ceph)", req.Backend)
	}
	if req.Containers < 1 {
		return nil, fmt.Errorf("systems: D: pool %d asks for %d containers", req.Pool, req.Containers)
	}
	if req.WorkDir == "" {
		return nil, fmt.Errorf("systems: D: empty WorkDir")
	}
	var unknown []string
	for k := range req.Options {
		if !userlevelOptions[k] && !strings.HasPrefix(k, "cache_") && !tenantOptions[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("systems: D: unknown options %v (have binary, preload, fuse, fuse_kernel_cache, design, wait, copy, buffers, buffer_size, queues, pin, cache, cache_*, odirect, tenant_weights, tenant_policy, tenant_aging, tenant_cache, tenant_slots)", unknown)
	}
	bin, err := serviceBinary(req.Options["binary"])
	if err != nil {
		return nil, err
	}
	useFuse, err := boolOption(req.Options, "fuse", true)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat("/dev/fuse"); useFuse && err != nil {
		return nil, fmt.Errorf("%w: D mounts each container's instance with FUSE too and needs /dev/fuse (or option fuse = \"false\"): %v", ErrUnavailable, err)
	}
	lib, err := preloadLibrary(req.Options["preload"])
	if err != nil {
		return nil, err
	}
	req.Options = withDefaultWait(req.Options, len(p.Cores()), req.Oversubscribed)
	cfg, containers, err := userlevelConfig(p.Name(), lib, req)
	if err != nil {
		return nil, err
	}
	in := &userlevelInstance{name: "D", pool: p, containers: containers, fuse: useFuse}
	if err := in.start(ctx, bin, cfg, req.WorkDir, req.ServiceEnv); err != nil {
		if terr := in.Teardown(context.WithoutCancel(ctx)); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, fmt.Errorf("systems: D setup of pool %d: %w", req.Pool, err)
	}
	return in, nil
}
