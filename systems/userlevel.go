package systems

import (
	"context"
	"fmt"

	"polytropon/fs"
	"polytropon/fs/client"
)

// D is the user-level stack of the papers on the local backend: one
// filesystem service per pool ("polytropon serve", started inside the pool
// so it shares the pool's cores, memory limit and IPC and mount
// namespaces) with one instance per container: a union of the container's
// private writable branch over the shared read-only image (Request.Lower,
// one libservice shared by every clone). The client cache sits below the
// union, in the backend client: each branch is a tenant of the service's
// one cache pool, and the image's cache is built once and shared by every
// clone (userlevel_clientcache.go); without an image, a private cache over
// the container's branch.
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
// Options (UserlevelOptions, in their natural TOML types):
//
//	binary       polytropon executable to run as the service (default:
//	             $POLYTROPON_BIN, this executable if it is polytropon, or
//	             polytropon in PATH)
//	preload      libpolytropon.so to put in ProcEnv (default: built from
//	             fs/preload with make, or $POLYTROPON_PRELOAD)
//	fuse         false leaves out the legacy FUSE mounts (default true)
//	fuse_kernel_cache
//	             true lets the kernel cache the FUSE mounts (default: direct
//	             I/O and zero timeouts, so both paths agree at once)
//	design, wait, copy, buffers, buffer_size, queues, pin, nice
//	             service settings (see fs/service.Config; pin defaults to
//	             true, nice to -10, wait to withDefaultWait's choice)
//	cache        false leaves out the client cache (fs/cache) below each
//	             container's union (default true, the papers' D);
//	             cache_<setting> sets each tenant's settings
//	             (stack.CacheOptions: cache_capacity = "512MiB" per tenant,
//	             cache_write_through = true, ...; cache_pool_capacity
//	             with cache_pool sets the pool's size)
//	odirect      false opens the local branches without O_DIRECT
//	             (default true: D keeps no kernel page cache)
//	ext4_image_size
//	             the containers' writable branches live on the pool's own
//	             ext4 filesystem of this size, a sparse image on a loop
//	             device with direct I/O, as K's data does (default 4GiB, K's
//	             size); 0 keeps them in the run's directory on the host's
//	             filesystem, which a noise workload writing there shares
//	             (journal, allocator)
//
// Tenants (Request.Tenants, set by the runner from [tenants] when the
// tenants are the containers of one pool, the Justitia experiments;
// docs/cache.md) replace the cache: the pool gets one shared cache pool
// whose tenant i is container i with weight i, per the tenants' policy,
// over every container's branch on fs/local with O_DIRECT (a local layer
// with odirect), so the kernel page cache does not help. Tenants exclude
// the options cache and cache_* and a shared lower image.
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

// Backend is the storage backend the system runs on.
func (*userlevelSystem) Backend() string { return "local" }

// Check reports whether the service binary can be found.
func (*userlevelSystem) Check() error {
	_, err := serviceBinary("")
	return err
}

// Setup writes the pool's service configuration and starts the service
// inside the pool.
func (s *userlevelSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if err := checkRequest("D", req, "local", "runs on the local backend; over Ceph use system D-ceph (docs/ceph.md)"); err != nil {
		return nil, err
	}
	o, err := optionsOf[UserlevelOptions](s, req)
	if err != nil {
		return nil, err
	}
	bin, lib, err := o.prepare("D")
	if err != nil {
		return nil, err
	}
	withWait := *o
	withWait.ServiceOptions = withDefaultWait(o.ServiceOptions)
	in := &userlevelInstance{name: "D", pool: p, fuse: o.Fuse}
	branches, err := userlevelBranches(ctx, in, req, o.Ext4ImageSize.Bytes())
	if err != nil {
		return nil, setupFailed(ctx, "D", req, in, err)
	}
	cfg, containers, err := userlevelConfig("D", p.Name(), lib, &withWait, req, branches)
	if err != nil {
		return nil, setupFailed(ctx, "D", req, in, err)
	}
	in.containers = containers
	if err := in.start(ctx, bin, cfg, req.WorkDir, req.ServiceEnv); err != nil {
		return nil, setupFailed(ctx, "D", req, in, err)
	}
	return in, nil
}
