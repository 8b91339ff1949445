package systems

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"polytropon/fs/cephfs"
	"polytropon/fs/cephfs/cephlayer"
	"polytropon/fs/service"
	"polytropon/runner/pool"
)

// D-ceph is the paper's D over Ceph: one filesystem service per pool
// ("polytropon serve", inside the pool) whose per-container instances are
// a union of the container's writable cephfs layer (a libcephfs client
// rooted at the container's directory) over the pool's read-only image
// (one libcephfs client shared by every clone, so the image is cached
// once), optionally under the client cache. No FUSE daemon and no kernel
// client sit between the union and Ceph: they are plain function calls in
// the service.
//
// The pool is a tenant as in the ceph-fuse systems (ceph_fuse.go): the
// directory /polytropon/<run>/p<N> with c<i> per container (and image, a
// copy of Request.Lower) and a key limited to it (`ceph fs authorize`),
// which every client of the service uses. The container's directory
// (Container.Dir) is the instance's mount path, FUSE-mounted by the service
// inside the pool for the legacy path, as in D. Teardown stops the service,
// then removes the pool's directory and key.
//
// Options: those of D (binary, preload, fuse, fuse_kernel_cache, design,
// wait, copy, buffers, buffer_size, queues, pin, cache, cache_*), the
// cluster (ceph_conf, ceph_keyring, ceph_user, ceph_fs_name; the runner
// fills them from [ceph]) and libcephfs client options (client_*, rados_*,
// objecter_*, e.g. client_oc_size), given to every cephfs layer.
func init() { Register(&userlevelCephSystem{}) }

type userlevelCephSystem struct{}

func (*userlevelCephSystem) Name() string { return "D-ceph" }

// Check needs a binary built with libcephfs (cephfs.Available: the service
// is normally this very executable), root, the ceph CLI and ceph-fuse (to
// make the tenant) and the service binary.
func (*userlevelCephSystem) Check() error {
	if !cephfs.Available {
		return fmt.Errorf("%w: D-ceph: this binary was built without libcephfs (rebuild with -tags \"ceph pacific\"; Debian packages libcephfs-dev, librados-dev)", ErrUnavailable)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: D-ceph must run as root (pools, the tenant's admin mount)", ErrUnavailable)
	}
	for _, p := range []struct{ prog, pkg string }{{"ceph", "ceph-common"}, {"ceph-fuse", "ceph-fuse"}} {
		if _, err := exec.LookPath(p.prog); err != nil {
			return fmt.Errorf("%w: D-ceph needs %s to make the pool's tenant: apt-get install %s", ErrUnavailable, p.prog, p.pkg)
		}
	}
	_, err := serviceBinary("")
	return err
}

// userlevelCephOption reports whether k is an option of D-ceph and, if so,
// whether it belongs to the cephfs layers (true) or to D (false).
func userlevelCephOption(k string) (known, layer bool) {
	switch {
	case k == "ceph_conf", k == "ceph_keyring", k == "ceph_user", k == "ceph_fs_name":
		return true, false
	case strings.HasPrefix(k, "client_"), strings.HasPrefix(k, "rados_"), strings.HasPrefix(k, "objecter_"):
		return true, true
	case userlevelOptions[k], strings.HasPrefix(k, "cache_"):
		return true, false
	}
	return false, false
}

// Setup makes the pool's tenant, writes the service configuration with
// cephfs layers and starts the service inside the pool.
func (s *userlevelCephSystem) Setup(ctx context.Context, p *pool.Pool, req Request) (Instance, error) {
	switch req.Backend {
	case "ceph":
	case "", "local":
		return nil, fmt.Errorf("%w: D-ceph runs on the ceph backend only (backend = \"ceph\"); use D for the local one", ErrUnavailable)
	default:
		return nil, fmt.Errorf("systems: D-ceph: unknown backend %q (want ceph)", req.Backend)
	}
	if req.Containers < 1 {
		return nil, fmt.Errorf("systems: D-ceph: pool %d asks for %d containers", req.Pool, req.Containers)
	}
	if req.WorkDir == "" {
		return nil, fmt.Errorf("systems: D-ceph: empty WorkDir")
	}
	dOpts, layerOpts := map[string]string{}, map[string]string{}
	var unknown []string
	for k, v := range req.Options {
		switch known, layer := userlevelCephOption(k); {
		case !known:
			unknown = append(unknown, k)
		case layer:
			layerOpts[k] = v
		case !strings.HasPrefix(k, "ceph_"):
			dOpts[k] = v
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("systems: D-ceph: unknown options %v (have ceph_conf, ceph_keyring, ceph_user, ceph_fs_name, client_*, rados_*, objecter_*, binary, preload, fuse, fuse_kernel_cache, design, wait, copy, buffers, buffer_size, queues, pin, cache, cache_*)", unknown)
	}
	if req.Lower != "" {
		if st, err := os.Stat(req.Lower); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("systems: D-ceph: lower image %q is not a directory", req.Lower)
		}
	}
	if p == nil {
		return nil, fmt.Errorf("systems: D-ceph: needs a pool to run its service in")
	}
	if req.Options["ceph_conf"] == "" && os.Getenv("CEPH_CONF") == "" && os.Getenv("POLYTROPON_CEPH_CONF") == "" {
		return nil, fmt.Errorf("%w: D-ceph: no Ceph cluster configured: set [ceph] conf in the experiment, $CEPH_CONF or $POLYTROPON_CEPH_CONF", ErrUnavailable)
	}
	conf, adminKeyring, err := cephSettings(req.Options)
	if err != nil {
		return nil, fmt.Errorf("systems: D-ceph: %w", err)
	}
	bin, err := serviceBinary(dOpts["binary"])
	if err != nil {
		return nil, err
	}
	useFuse, err := boolOption(dOpts, "fuse", true)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat("/dev/fuse"); useFuse && err != nil {
		return nil, fmt.Errorf("%w: D-ceph mounts each container's instance with FUSE too and needs /dev/fuse (or option fuse = \"false\"): %v", ErrUnavailable, err)
	}
	lib, err := preloadLibrary(dOpts["preload"])
	if err != nil {
		return nil, err
	}
	// D's configuration (service settings, cache, FUSE, containers) over
	// local branches, whose bottom layers are replaced by cephfs ones.
	dReq := req
	dReq.Lower, dReq.Options = "", dOpts
	cfg, containers, err := userlevelConfig(p.Name(), lib, dReq)
	if err != nil {
		return nil, fmt.Errorf("systems: D-ceph: %w", err)
	}

	tenant := &cephInstance{sys: &cephFuseSystem{v: cephVariant{name: "D-ceph"}}, pool: p, conf: conf,
		adminKeyring: adminKeyring, workDir: req.WorkDir, opts: req.Options}
	in := &userlevelCephInstance{userlevelInstance: &userlevelInstance{pool: p, containers: containers, fuse: useFuse}, tenant: tenant}
	fail := func(err error) (Instance, error) {
		if terr := in.Teardown(context.WithoutCancel(ctx)); terr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failed setup: %w", terr))
		}
		return nil, fmt.Errorf("systems: D-ceph setup of pool %d: %w", req.Pool, err)
	}
	if err := makeCephTenant(ctx, tenant, req); err != nil {
		return fail(err)
	}
	cephOpts := map[string]string{"conf": conf, "id": tenant.tenant, "keyring": tenant.keyring}
	if n := req.Options["ceph_fs_name"]; n != "" {
		cephOpts["fs_name"] = n
	}
	for k, v := range layerOpts {
		cephOpts[k] = v
	}
	for i := range cfg.Instances {
		// userlevelConfig made a local upper directory the service will
		// not use; the container's data lives in Ceph.
		os.Remove(filepath.Join(req.WorkDir, fmt.Sprintf("c%d", i), "upper"))
		top := service.Layer{Type: cephlayer.Type, Dir: fmt.Sprintf("%s/c%d", tenant.dir, i), Options: cephOpts}
		if req.Lower != "" {
			top = service.Layer{Type: "union", Branches: []service.Layer{top,
				{Type: cephlayer.Type, Dir: tenant.dir + "/image", ReadOnly: true, Shared: "image", Options: cephOpts}}}
		}
		stack := cfg.Instances[i].Stack
		stack[len(stack)-1] = top
	}
	if err := cfg.Validate(); err != nil {
		return fail(err)
	}
	if err := in.start(ctx, bin, cfg, req.WorkDir); err != nil {
		if strings.Contains(err.Error(), cephfs.ErrUnavailable.Error()) {
			err = fmt.Errorf("%w: D-ceph: the service binary %s was built without libcephfs (rebuild it with -tags \"ceph pacific\"): %v", ErrUnavailable, bin, err)
		}
		return fail(err)
	}
	return in, nil
}

// makeCephTenant makes the pool's directories in the file system (p<N>,
// p<N>/c<i>, and p<N>/image holding a copy of req.Lower) with the admin key,
// then the tenant's key limited to p<N>, the way the ceph-fuse systems do.
func makeCephTenant(ctx context.Context, in *cephInstance, req Request) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := fnv.New32a()
	h.Write([]byte(req.WorkDir))
	run := fmt.Sprintf("%08x", h.Sum32())
	in.dir = fmt.Sprintf("/polytropon/%s/p%d", run, req.Pool)
	dirs := []string{in.dir}
	for i := range req.Containers {
		dirs = append(dirs, fmt.Sprintf("%s/c%d", in.dir, i))
	}
	if req.Lower != "" {
		dirs = append(dirs, in.dir+"/image")
	}
	in.dirMade = true
	if err := in.admin(ctx, func(mnt string) error {
		for _, d := range dirs {
			if err := os.MkdirAll(mnt+d, 0o755); err != nil {
				return err
			}
		}
		if req.Lower != "" {
			if _, err := hostCmd(ctx, "cp", "-a", "--", req.Lower+"/.", mnt+in.dir+"/image"); err != nil {
				return fmt.Errorf("copying the lower image into the file system: %w", err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	tenant := fmt.Sprintf("polytropon-%s-p%d", run, req.Pool)
	out, err := in.cephCmd(ctx, "fs", "authorize", in.fsName(), "client."+tenant, in.dir, "rw")
	if err != nil {
		return err
	}
	in.tenant = tenant
	in.keyring = filepath.Join(in.workDir, "client."+tenant+".keyring")
	return os.WriteFile(in.keyring, []byte(out), 0o600)
}

// userlevelCephInstance is D-ceph set up for one pool: D's service
// (Container, ServicePIDs and the service's start and stop come from
// userlevelInstance) plus the pool's tenant.
type userlevelCephInstance struct {
	*userlevelInstance
	tenant *cephInstance

	mu sync.Mutex // serializes Teardown
}

// Teardown stops the service (SIGTERM; it unmounts its FUSE mounts and
// closes its Ceph clients, which write back what they cache), then removes
// the pool's directory (and its run directory, when empty) from the file
// system, the tenant's key and its keyring file. Safe to call more than
// once (a second call retries what failed) and after a partial Setup.
func (in *userlevelCephInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	err := in.userlevelInstance.Teardown(ctx) // idempotent
	t := in.tenant
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.dirMade {
		// The service is gone (killed at worst), so no client of the
		// tenant writes into the directory any more.
		rerr := t.admin(ctx, func(mnt string) error {
			if err := os.RemoveAll(mnt + t.dir); err != nil {
				return err
			}
			// /polytropon/<run> is this pool's alone (run hashes the
			// pool's WorkDir); leave it if anything else is there.
			os.Remove(mnt + filepath.Dir(t.dir))
			return nil
		})
		if rerr != nil {
			err = errors.Join(err, fmt.Errorf("systems: D-ceph: removing %s from the file system: %w", t.dir, rerr))
		} else {
			t.dirMade = false
		}
	}
	if t.tenant != "" {
		if _, aerr := t.cephCmd(ctx, "auth", "rm", "client."+t.tenant); aerr != nil {
			err = errors.Join(err, aerr)
		} else {
			os.Remove(t.keyring)
			t.tenant = ""
		}
	}
	return err
}
