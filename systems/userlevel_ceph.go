package systems

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	iofs "io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/fs/stack"
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
// Options (UserlevelCephOptions): those of D (binary, preload, fuse,
// fuse_kernel_cache, design, wait, copy, buffers, buffer_size, queues, pin,
// cache, cache_*; odirect has no effect), the cluster's (ceph_conf,
// ceph_keyring, ceph_user, ceph_fs_name, over Request.Ceph: the
// experiment's [ceph]) and libcephfs client options (client_*, rados_*,
// objecter_*, e.g. client_oc_size = 268435456), given to every cephfs
// layer.
func init() { Register(&userlevelCephSystem{}) }

type userlevelCephSystem struct{}

func (*userlevelCephSystem) Name() string { return "D-ceph" }

// Backend is the storage backend the system runs on.
func (*userlevelCephSystem) Backend() string { return "ceph" }

// UserlevelCephOptions are the options of D-ceph.
type UserlevelCephOptions struct {
	UserlevelOptions
	CephCluster
	// Client are the libcephfs options of every cephfs layer.
	Client stack.CephConfig `toml:"-" prefix:"client_ rados_ objecter_"`
}

// NewOptions returns D-ceph's options with their defaults (D's).
func (*userlevelCephSystem) NewOptions() any {
	return &UserlevelCephOptions{UserlevelOptions: *defaultUserlevelOptions()}
}

// Validate checks D's options and the names of the libcephfs options.
func (o *UserlevelCephOptions) Validate() error {
	if err := o.UserlevelOptions.Validate(); err != nil {
		return err
	}
	if o.Ext4ImageSize != 0 {
		return fmt.Errorf("option ext4_image_size is D's on the local backend; D-ceph's branches are in CephFS")
	}
	return o.Client.Check(stack.LibcephfsPrefixes...)
}

// Check needs a binary built with libcephfs (cephfs.Available: the service
// is normally this very executable, and the tenant's directories are made
// with an admin client in this process), root, the ceph CLI (the tenant's
// key) and the service binary.
func (*userlevelCephSystem) Check() error {
	if !cephfs.Available {
		return fmt.Errorf("%w: D-ceph: this binary was built without libcephfs (rebuild with -tags \"ceph pacific\"; Debian packages libcephfs-dev, librados-dev)", ErrUnavailable)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: D-ceph must run as root (pools, namespaces, FUSE mounts)", ErrUnavailable)
	}
	if _, err := exec.LookPath("ceph"); err != nil {
		return fmt.Errorf("%w: D-ceph needs the ceph CLI to make the pool's tenant key: apt-get install ceph-common", ErrUnavailable)
	}
	_, err := serviceBinary("")
	return err
}

// Setup makes the pool's tenant, writes the service configuration with
// cephfs layers and starts the service inside the pool.
func (s *userlevelCephSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if err := checkRequest("D-ceph", req, "ceph", "runs on the ceph backend only (backend = \"ceph\"); use D for the local one"); err != nil {
		return nil, err
	}
	o, err := optionsOf[UserlevelCephOptions](s, req)
	if err != nil {
		return nil, err
	}
	if _, err := lowerDir("D-ceph", req); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("systems: D-ceph: needs a pool to run its service in")
	}
	cluster, err := req.Ceph.over(o.CephCluster).locate()
	if err != nil {
		return nil, fmt.Errorf("systems: D-ceph: %w", err)
	}
	bin, lib, err := o.prepare("D-ceph")
	if err != nil {
		return nil, err
	}
	// D's configuration (service settings, cache, FUSE, containers) over
	// local branches, whose bottom layers are replaced by cephfs ones.
	dReq := req
	dReq.Lower = ""
	cfg, containers, err := userlevelConfig("D-ceph", p.Name(), lib, &o.UserlevelOptions, dReq, "")
	if err != nil {
		return nil, err
	}

	tenant := &cephInstance{sys: &cephFuseSystem{v: cephVariant{name: "D-ceph"}}, pool: p, cluster: cluster, workDir: req.WorkDir}
	in := &userlevelCephInstance{userlevelInstance: &userlevelInstance{name: "D-ceph", pool: p, containers: containers, fuse: o.Fuse}, tenant: tenant}
	if err := makeCephTenant(ctx, tenant, req); err != nil {
		return nil, setupFailed(ctx, "D-ceph", req, in, err)
	}
	settings := &stack.CephFSOptions{Conf: cluster.Conf, ID: tenant.tenant, Keyring: tenant.keyring,
		FSName: cluster.FSName, Options: o.Client}
	for i := range cfg.Instances {
		// userlevelConfig made a local upper directory the service will
		// not use; the container's data lives in Ceph.
		os.Remove(filepath.Join(req.WorkDir, fmt.Sprintf("c%d", i), "upper"))
		top := stack.Layer{Type: stack.CephFS, Dir: fmt.Sprintf("%s/c%d", tenant.dir, i), CephFS: settings}
		if req.Lower != "" {
			top = stack.Layer{Type: "union", Branches: []stack.Layer{top,
				{Type: stack.CephFS, Dir: tenant.dir + "/image", ReadOnly: true, Shared: "image", CephFS: settings}}}
		}
		layers := cfg.Instances[i].Stack
		layers[len(layers)-1] = top
	}
	if err := cfg.Validate(); err != nil {
		return nil, setupFailed(ctx, "D-ceph", req, in, err)
	}
	if err := in.start(ctx, bin, cfg, req.WorkDir, req.ServiceEnv); err != nil {
		if strings.Contains(err.Error(), cephfs.ErrUnavailable.Error()) {
			err = fmt.Errorf("%w: D-ceph: the service binary %s was built without libcephfs (rebuild it with -tags \"ceph pacific\"): %v", ErrUnavailable, bin, err)
		}
		return nil, setupFailed(ctx, "D-ceph", req, in, err)
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
	if err := cephAdmin(ctx, in, func(admin fs.Service) error {
		for _, d := range dirs {
			if err := mkdirAll(ctx, admin, d); err != nil {
				return err
			}
		}
		if req.Lower != "" {
			if err := copyIntoCeph(ctx, admin, req.Lower, in.dir+"/image"); err != nil {
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

// cephAdmin runs fn on a libcephfs client of the admin user rooted at the
// file system's root, in this process. (Not a short-lived ceph-fuse: one
// unmounted within a few seconds of its mount aborts in its remount test
// without closing its MDS session, and the MDS then holds the caps of the
// directories it made, blocking the tenant's clients, until it evicts the
// dead session a minute later.) Closing the client closes its session.
func cephAdmin(ctx context.Context, in *cephInstance, fn func(admin fs.Service) error) error {
	admin, err := cephfs.New(ctx, cephfs.Config{ConfPath: in.cluster.Conf, Keyring: in.cluster.Keyring, ID: in.adminUser(),
		FSName: in.cluster.FSName})
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	return errors.Join(fn(admin), admin.Close())
}

// mkdirAll makes an absolute directory path of the file system and its
// parents.
func mkdirAll(ctx context.Context, svc fs.Service, dir string) error {
	var cur string
	for _, part := range strings.Split(strings.Trim(dir, "/"), "/") {
		cur = path.Join(cur, part)
		if err := svc.Mkdir(ctx, cur, 0o755); err != nil && !errors.Is(err, syscall.EEXIST) {
			return err
		}
	}
	return nil
}

// copyIntoCeph copies the host tree src into the existing directory dst of
// the file system: directories, regular files and symbolic links, with
// their permission bits and owners (times are not kept).
func copyIntoCeph(ctx context.Context, svc fs.Service, src, dst string) error {
	buf := make([]byte, 1<<20)
	return filepath.WalkDir(src, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		to := path.Join(strings.TrimPrefix(dst, "/"), filepath.ToSlash(rel))
		info, err := d.Info()
		if err != nil {
			return err
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return fmt.Errorf("%s: no owner information", p)
		}
		perm := uint32(info.Mode().Perm())
		switch {
		case rel == ".":
		case d.IsDir():
			if err := svc.Mkdir(ctx, to, perm); err != nil {
				return err
			}
		case d.Type()&iofs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if err := svc.Symlink(ctx, target, to); err != nil {
				return err
			}
		case d.Type().IsRegular():
			if err := copyFileIntoCeph(ctx, svc, p, to, perm, buf); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: cannot copy a %v into Ceph", p, d.Type())
		}
		if rel == "." {
			return nil
		}
		return svc.Chown(ctx, to, int(st.Uid), int(st.Gid), unix.AT_SYMLINK_NOFOLLOW)
	})
}

func copyFileIntoCeph(ctx context.Context, svc fs.Service, from, to string, perm uint32, buf []byte) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := svc.Open(ctx, to, syscall.O_CREAT|syscall.O_EXCL|syscall.O_WRONLY, perm)
	if err != nil {
		return err
	}
	var off int64
	for {
		n, rerr := in.Read(buf)
		if n > 0 {
			if _, err := out.Pwrite(buf[:n], off); err != nil {
				out.Close()
				return err
			}
			off += int64(n)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	return out.Close()
}

// removeFromCeph removes a path of the file system and everything below
// it; a missing path is not an error.
func removeFromCeph(ctx context.Context, svc fs.Service, name string) error {
	st, err := svc.Lstat(ctx, name)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return svc.Unlink(ctx, name)
	}
	d, err := svc.OpenDir(ctx, name)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(0)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := removeFromCeph(ctx, svc, path.Join(name, e.Name)); err != nil {
			return err
		}
	}
	return svc.Rmdir(ctx, name)
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
		rerr := cephAdmin(ctx, t, func(admin fs.Service) error {
			rel := strings.TrimPrefix(t.dir, "/")
			if err := removeFromCeph(ctx, admin, rel); err != nil {
				return err
			}
			// /polytropon/<run> is this pool's alone (run hashes the
			// pool's WorkDir); leave it if anything else is there.
			admin.Rmdir(ctx, path.Dir(rel))
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
