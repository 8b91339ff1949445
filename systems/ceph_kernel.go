package systems

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"polytropon/internal/units"
)

// The kernel CephFS systems of paper table 1, over the same cluster and
// tenants as the ceph-fuse systems (ceph_fuse.go):
//
//	K-ceph    the kernel CephFS client: one `mount -t ceph` per pool      paper K
//	K/K-ceph  kernel overlayfs per container over that mount             paper K/K
//	F/K       unionfs-fuse per container over that mount                 paper F/K
//
// The paper's K/K is AUFS over kernel CephFS; AUFS is not in mainline
// Linux and overlayfs is its in-kernel counterpart, so K/K-ceph uses
// overlayfs. Overlayfs takes a network file system as a lower layer but
// refuses one as upperdir ("filesystem on ... not supported as upperdir":
// kernel CephFS revalidates its dentries), so each container's writable
// branch is an ext4 file system in a sparse image file c<i>/upper.img on
// the pool's CephFS mount, attached to a loop device: the lower layer is
// the image directory on CephFS, and every byte a container writes still
// lands in CephFS, through ext4 and the loop device.
//
// Every pool is a tenant, as for the ceph-fuse systems: Setup creates the
// directory /polytropon/<run>/p<N> of the file system and a key limited to
// it (`ceph fs authorize`), and mounts that directory, and only it, with
// that key inside the pool's mount namespace (the kernel client refuses a
// path outside the key's subtree, and `..` at the mount's root stays
// there). Container i uses the subdirectory c<i>; the unions add a
// read-only image (Request.Lower copied into p<N>/image) below each
// container's writable c<i>/upper. Teardown unmounts the unions, then the
// CephFS mount, then removes the pool's directory and key.
//
// These systems need a kernel with CephFS (`ceph` in /proc/filesystems or
// a module modprobe can load: CONFIG_CEPH_FS) and, for K/K-ceph, overlayfs;
// scripts/guest.sh runs such a kernel on hosts without one.
//
// Options (CephKernelOptions, all optional): ceph_conf, ceph_keyring,
// ceph_user, ceph_fs_name as for the ceph-fuse systems, and
//
//	mount_options  extra kernel CephFS mount options ("noatime,rsize=65536")
//	upper_size     K/K-ceph: size of each container's sparse ext4 upper
//	               image in CephFS (default 1GiB)
func init() {
	Register(&cephKernelSystem{name: "K-ceph"})
	Register(&cephKernelSystem{name: "K/K-ceph", union: unionOverlay})
	Register(&cephKernelSystem{name: "F/K", union: unionFuse})
}

// unionKind says what a kernel CephFS system stacks per container.
type unionKind int

const (
	unionNone    unionKind = iota
	unionOverlay           // kernel overlayfs
	unionFuse              // unionfs-fuse
)

type cephKernelSystem struct {
	name  string
	union unionKind
}

func (s *cephKernelSystem) Name() string { return s.name }

// CephKernelOptions are the options of K-ceph, K/K-ceph and F/K.
type CephKernelOptions struct {
	CephCluster
	MountOptions string     `toml:"mount_options"`
	UpperSize    units.Size `toml:"upper_size"`
}

// NewOptions returns the options with their defaults.
func (*cephKernelSystem) NewOptions() any { return &CephKernelOptions{UpperSize: 1 << 30} }

// Validate refuses mount options that would replace what Setup sets.
func (o *CephKernelOptions) Validate() error {
	if o.UpperSize < 16<<20 {
		return fmt.Errorf("option upper_size %v: want at least 16MiB (an ext4 file system per container)", o.UpperSize)
	}
	for _, opt := range strings.Split(o.MountOptions, ",") {
		k, _, _ := strings.Cut(strings.TrimSpace(opt), "=")
		switch k {
		case "name", "secret", "secretfile", "mds_namespace", "fs":
			return fmt.Errorf("option mount_options: %q is set by the system (tenant key, file system); use ceph_user or ceph_fs_name", k)
		}
	}
	return nil
}

// Check reports whether kernel CephFS mounts (and the system's union) can
// be made here, and what is missing when not.
func (s *cephKernelSystem) Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s must run as root (mount, pools)", ErrUnavailable, s.name)
	}
	fss := []string{"ceph"}
	progs := []struct{ prog, pkg string }{{"mount", "mount"}, {"umount", "mount"}, {"mount.ceph", "ceph-common"}, {"ceph", "ceph-common"}, {"ceph-fuse", "ceph-fuse"}}
	switch s.union {
	case unionOverlay:
		fss = append(fss, "overlay", "ext4")
		progs = append(progs, struct{ prog, pkg string }{"losetup", "mount"}, struct{ prog, pkg string }{"mkfs.ext4", "e2fsprogs"})
	case unionFuse:
		fss = append(fss, "fuse")
		progs = append(progs, struct{ prog, pkg string }{"unionfs", "unionfs-fuse"}, struct{ prog, pkg string }{"fusermount3", "fuse3"})
	}
	for _, p := range progs {
		if _, err := exec.LookPath(p.prog); err != nil {
			return fmt.Errorf("%w: %s needs %s: apt-get install %s", ErrUnavailable, s.name, p.prog, p.pkg)
		}
	}
	for _, fs := range fss {
		if err := kernelFilesystem(fs); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.name, err)
		}
	}
	if s.union == unionOverlay && !fileExists(loopControl) {
		if out, err := exec.Command("modprobe", "--dry-run", "--quiet", "loop").CombinedOutput(); err != nil {
			return fmt.Errorf("%w: %s needs loop devices: no %s, and modprobe loop fails (%v%s)", ErrUnavailable, s.name, loopControl, err, strings.TrimSpace(" "+string(out)))
		}
	}
	return nil
}

// loopControl exists when the kernel has loop devices (the loop module
// loaded or built in).
const loopControl = "/dev/loop-control"

// kernelFilesystem reports whether the kernel has file system type fs
// (/proc/filesystems) or can load it (modprobe --dry-run), saying what is
// missing when not.
func kernelFilesystem(fs string) error {
	have, err := os.ReadFile("/proc/filesystems")
	if err != nil {
		return err
	}
	if hasFilesystem(string(have), fs) {
		return nil
	}
	release := "this kernel"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		release = strings.TrimSpace(string(b))
	}
	if _, err := exec.LookPath("modprobe"); err != nil {
		return fmt.Errorf("kernel %s has no %s file system (not in /proc/filesystems) and there is no modprobe to load it (apt-get install kmod)", release, fs)
	}
	if out, err := exec.Command("modprobe", "--dry-run", "--quiet", fs).CombinedOutput(); err != nil {
		return fmt.Errorf("kernel %s has no %s file system: not in /proc/filesystems, and modprobe finds no module for it in /lib/modules/%s (%v%s); a kernel with it runs in scripts/guest.sh",
			release, fs, release, err, strings.TrimSpace(" "+string(out)))
	}
	return nil
}

// loadFilesystem loads the module of fs when the kernel does not list it.
func loadFilesystem(ctx context.Context, fs string) error {
	have, err := os.ReadFile("/proc/filesystems")
	if err == nil && hasFilesystem(string(have), fs) {
		return nil
	}
	_, err = hostCmd(ctx, "modprobe", fs)
	return err
}

// Setup makes the pool's tenant (directory and key), mounts its directory
// inside the pool and, for the unions, one union per container.
func (s *cephKernelSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if err := checkRequest(s.name, req, "ceph", "runs on the ceph backend only (backend = \"ceph\"); use K or K/K for the local one"); err != nil {
		return nil, err
	}
	o, err := optionsOf[CephKernelOptions](s, req)
	if err != nil {
		return nil, err
	}
	if req.Lower != "" && s.union == unionNone {
		return nil, fmt.Errorf("systems: %s has no union for a shared lower image (%s); use K/K-ceph or F/K", s.name, req.Lower)
	}
	if _, err := lowerDir(s.name, req); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("systems: %s: needs a pool to mount in", s.name)
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	cluster, err := req.Ceph.over(o.CephCluster).locate()
	if err != nil {
		return nil, fmt.Errorf("systems: %s: %w", s.name, err)
	}
	mons, err := monitorsV1(cluster.Conf)
	if err != nil {
		return nil, fmt.Errorf("systems: %s: %w", s.name, err)
	}
	in := &cephKernelInstance{
		sys: s, pool: p, opts: *o, mons: mons, workDir: req.WorkDir,
		// The tenant's directory and key are made and removed as for the
		// ceph-fuse systems; its union daemons are started and stopped
		// the same way (cephInstance's helpers, which use only these
		// fields).
		admin: &cephInstance{
			sys:     &cephFuseSystem{v: cephVariant{name: s.name, union: true}},
			pool:    p,
			cluster: cluster,
			workDir: req.WorkDir,
		},
	}
	if err := in.setup(ctx, req); err != nil {
		return nil, setupFailed(ctx, s.name, req, in, err)
	}
	return in, nil
}

// monitorsV1 returns the legacy (msgr v1) addresses of the monitors in a
// ceph.conf's "mon host" line, which the kernel client's default
// ms_mode=legacy speaks: "v1:IP:PORT" entries, plain "IP:PORT", and plain
// "IP" (port 6789). IPv4 only: bracketed IPv6 addresses are not parsed.
func monitorsV1(conf string) ([]string, error) {
	data, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.Join(strings.Fields(strings.ReplaceAll(k, "_", " ")), " ") != "mon host" {
			continue
		}
		var mons []string
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("[], \t", r) }) {
			switch {
			case strings.HasPrefix(f, "v2:"):
				continue
			case strings.HasPrefix(f, "v1:"):
				f = strings.TrimPrefix(f, "v1:")
			case !strings.Contains(f, ":"):
				f += ":6789"
			}
			if i := strings.IndexByte(f, '/'); i >= 0 {
				f = f[:i] // v1:127.0.0.1:6789/0
			}
			mons = append(mons, f)
		}
		if len(mons) == 0 {
			return nil, fmt.Errorf("%s: \"mon host\" has no msgr v1 address (the kernel client needs one): %s", conf, strings.TrimSpace(v))
		}
		return mons, nil
	}
	return nil, fmt.Errorf("%s: no \"mon host\" line (the kernel client needs the monitors' addresses)", conf)
}

// cephKernelInstance is a kernel CephFS system set up for one pool.
type cephKernelInstance struct {
	sys     *cephKernelSystem
	pool    Pool
	opts    CephKernelOptions
	mons    []string
	workDir string
	admin   *cephInstance // tenant directory and key, union daemons

	mu         sync.Mutex // guards the fields below
	secretFile string     // the tenant's key, for mount.ceph
	mounts     []string   // kernel mounts inside the pool, in mount order
	containers []Container
	torn       bool
}

func (in *cephKernelInstance) Container(i int) Container { return in.containers[i] }

func (in *cephKernelInstance) setup(ctx context.Context, req Request) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	fss := []string{"ceph"}
	if in.sys.union == unionOverlay {
		fss = append(fss, "overlay", "ext4")
	}
	for _, fs := range fss {
		if err := loadFilesystem(ctx, fs); err != nil {
			return err
		}
	}
	if in.sys.union == unionOverlay && !fileExists(loopControl) {
		if _, err := hostCmd(ctx, "modprobe", "loop"); err != nil {
			return fmt.Errorf("no loop devices (%s): %w", loopControl, err)
		}
	}
	// Directories, image and key as the ceph-fuse systems make them.
	ad := in.admin
	union := in.sys.union != unionNone
	ad.mu.Lock()
	err := in.makeTenant(ctx, req, union)
	ad.mu.Unlock()
	if err != nil {
		return err
	}

	// One kernel mount of the pool's directory with the tenant's key.
	mnt := filepath.Join(in.workDir, "mnt")
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	src := strings.Join(in.mons, ",") + ":" + ad.dir
	opts := "name=" + ad.tenant + ",secretfile=" + in.secretFile
	if n := ad.cluster.FSName; n != "" {
		opts += ",mds_namespace=" + n
	}
	if o := strings.Trim(in.opts.MountOptions, ", "); o != "" {
		opts += "," + o
	}
	in.mounts = append(in.mounts, mnt) // recorded first: teardown tolerates "not mounted"
	if err := poolCmd(ctx, in.pool, "mount", "-t", "ceph", src, mnt, "-o", opts); err != nil {
		return fmt.Errorf("%w%s", err, kernelSays(ctx, "ceph"))
	}

	image := filepath.Join(mnt, "image")
	for i := range req.Containers {
		own := filepath.Join(mnt, "c"+strconv.Itoa(i))
		switch in.sys.union {
		case unionNone:
			in.containers = append(in.containers, Container{Dir: own, FS: FSSpec{Kind: HostKind}})
		case unionOverlay:
			cdir := filepath.Join(in.workDir, "c"+strconv.Itoa(i))
			upperFS, root := filepath.Join(cdir, "upper"), filepath.Join(cdir, "root")
			if err := in.mountUpper(ctx, filepath.Join(own, "upper.img"), upperFS); err != nil {
				return fmt.Errorf("container %d: %w", i, err)
			}
			upper, work := filepath.Join(upperFS, "upper"), filepath.Join(upperFS, "work")
			if err := poolCmd(ctx, in.pool, "mkdir", "-p", upper, work, root); err != nil {
				return err
			}
			for _, p := range []string{image, upper, work} {
				if strings.ContainsAny(p, ",:") {
					return fmt.Errorf("overlay path %q contains ',' or ':', which overlayfs options cannot carry", p)
				}
			}
			in.mounts = append(in.mounts, root)
			if err := poolCmd(ctx, in.pool, "mount", "-t", "overlay", "overlay", "-o", "lowerdir="+image+",upperdir="+upper+",workdir="+work, root); err != nil {
				return fmt.Errorf("container %d: %w%s", i, err, kernelSays(ctx, "overlayfs"))
			}
			in.containers = append(in.containers, Container{Dir: root, FS: FSSpec{Kind: HostKind}})
		case unionFuse:
			upper, root := filepath.Join(own, "upper"), filepath.Join(in.workDir, "c"+strconv.Itoa(i), "root")
			if err := poolCmd(ctx, in.pool, "mkdir", "-p", upper); err != nil {
				return err
			}
			ad.mu.Lock()
			err := ad.mountUnion(ctx, upper, image, root)
			ad.mu.Unlock()
			if err != nil {
				return fmt.Errorf("container %d: %w", i, err)
			}
			in.containers = append(in.containers, Container{Dir: root, FS: FSSpec{Kind: HostKind}})
		}
	}
	return nil
}

// mountUpper makes a sparse ext4 image file on the pool's CephFS mount
// and mounts it, through a loop device, on mnt inside the pool.
//
// Preconditions: in.mu is held.
func (in *cephKernelInstance) mountUpper(ctx context.Context, image, mnt string) error {
	// The CephFS mount lives in the pool's mount namespace: the host
	// reaches the image through the engine's root.
	hostImage := filepath.Join(fmt.Sprintf("/proc/%d/root", in.pool.EnginePid()), image)
	f, err := os.OpenFile(hostImage, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	err = f.Truncate(in.opts.UpperSize.Bytes())
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sparse upper image %s: %w", image, err)
	}
	if _, err := hostCmd(ctx, "mkfs.ext4", "-q", "-F", "-m", "0", "-E", "lazy_itable_init=1,lazy_journal_init=1", hostImage); err != nil {
		return err
	}
	out, err := hostCmd(ctx, "losetup", "--find", "--show", hostImage)
	if err != nil {
		return err
	}
	dev := strings.TrimSpace(out)
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		hostCmd(context.WithoutCancel(ctx), "losetup", "-d", dev)
		return err
	}
	in.mounts = append(in.mounts, mnt) // recorded first: teardown tolerates "not mounted"
	merr := poolCmd(ctx, in.pool, "mount", "-t", "ext4", dev, mnt)
	// Detach at once: on a mounted device this only sets autoclear, so the
	// device goes with the mount even if the runner dies (as K does).
	_, derr := hostCmd(context.WithoutCancel(ctx), "losetup", "-d", dev)
	return errors.Join(merr, derr)
}

// makeTenant creates the pool's directories (and image) and key with the
// admin key, and writes the key for mount.ceph.
//
// Preconditions: in.mu and in.admin.mu are held.
func (in *cephKernelInstance) makeTenant(ctx context.Context, req Request, union bool) error {
	ad := in.admin
	ad.dir, ad.tenant = tenantNames(req)
	dirs := []string{ad.dir}
	for i := range req.Containers {
		dirs = append(dirs, fmt.Sprintf("%s/c%d", ad.dir, i))
	}
	if union {
		dirs = append(dirs, ad.dir+"/image")
	}
	ad.dirMade = true
	if err := ad.admin(ctx, func(mnt string) error {
		for _, d := range dirs {
			if err := os.MkdirAll(mnt+d, 0o755); err != nil {
				return err
			}
		}
		if union && req.Lower != "" {
			if _, err := hostCmd(ctx, "cp", "-a", "--", req.Lower+"/.", mnt+ad.dir+"/image"); err != nil {
				return fmt.Errorf("copying the lower image into the file system: %w", err)
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if _, err := ad.cephCmd(ctx, "fs", "authorize", ad.fsName(), "client."+ad.tenant, ad.dir, "rw"); err != nil {
		ad.tenant = ""
		return err
	}
	key, err := ad.cephCmd(ctx, "auth", "print-key", "client."+ad.tenant)
	if err != nil {
		return err
	}
	in.secretFile = filepath.Join(in.workDir, "client."+ad.tenant+".secret")
	return os.WriteFile(in.secretFile, []byte(strings.TrimSpace(key)+"\n"), 0o600)
}

// kernelSays returns the kernel's last log lines that mention what (a
// failed mount says why only there), as "; kernel: ..." or "".
func kernelSays(ctx context.Context, what string) string {
	out, err := hostCmd(ctx, "dmesg")
	if err != nil {
		return ""
	}
	var said []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, what) {
			said = append(said, strings.TrimSpace(line))
		}
	}
	if len(said) == 0 {
		return ""
	}
	return "; kernel: " + strings.Join(said[max(0, len(said)-3):], " | ")
}

// tenantNames are the pool's directory in the file system and its client
// id: the run (a hash of the work directory) and the pool index.
func tenantNames(req Request) (dir, tenant string) {
	h := fnv.New32a()
	h.Write([]byte(req.WorkDir))
	run := fmt.Sprintf("%08x", h.Sum32())
	return fmt.Sprintf("/polytropon/%s/p%d", run, req.Pool), fmt.Sprintf("polytropon-%s-p%d", run, req.Pool)
}

// Teardown unmounts the unions, then the CephFS mount (lazily when busy,
// reporting it), then removes the pool's directory and key. Safe to call
// more than once.
func (in *cephKernelInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	var errs []error
	ad := in.admin
	ad.mu.Lock()
	for i := len(ad.unions) - 1; i >= 0; i-- {
		if err := ad.stopDaemon(ctx, ad.unions[i]); err != nil {
			errs = append(errs, err)
		}
	}
	ad.unions = nil
	ad.mu.Unlock()
	for i := len(in.mounts) - 1; i >= 0; i-- {
		if err := unmount(ctx, in.pool, in.mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	in.mounts = nil
	if in.secretFile != "" {
		os.Remove(in.secretFile)
	}
	// The directory, key and mount points go as the ceph-fuse systems',
	// but never while a mount may still show the tree.
	if len(errs) == 0 {
		if err := ad.Teardown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		os.RemoveAll(filepath.Join(in.workDir, "mnt"))
	}
	in.torn = true
	return errors.Join(errs...)
}
