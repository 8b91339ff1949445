package systems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"polytropon/fs/stack"
)

// The Ceph systems of paper table 1 that run on this host, over the cluster
// of scripts/ceph-up.sh (or an external one):
//
//	F-ceph   ceph-fuse per container, direct I/O (fuse_disable_pagecache)   paper F
//	FP-ceph  ceph-fuse per container, kernel page cache                       paper FP
//	F/F      unionfs-fuse (direct_io) over ceph-fuse (direct I/O)             paper F/F
//	FP/FP    unionfs-fuse over ceph-fuse, page cache in both                  paper FP/FP
//	K-ceph, K/K-ceph, F/K   kernel CephFS: unavailable on this kernel         paper K, K/K, F/K
//
// "F" and "FP" are our own FUSE baselines over the local backend
// (fuse.go); the Ceph ones carry a suffix.
//
// Every pool is a tenant: Setup creates the directory
// /polytropon/<run>/p<N> of the file system and a key limited to it
// (`ceph fs authorize`), and every ceph-fuse of the pool uses that key. Each
// container has its own ceph-fuse client, started inside the pool (its CPU
// and memory are the pool's) and mounted in the pool's mount namespace. The
// union variants add one ceph-fuse of the pool's read-only image
// (Request.Lower copied into p<N>/image), shared by the pool's containers,
// and one unionfs-fuse per container over its private ceph-fuse mount and
// that image. Teardown unmounts the unions, then the ceph-fuse clients,
// then removes the pool's directory and key.
//
// Options (CephFuseOptions, all optional):
//
//	ceph_conf      ceph.conf (default: Request.Ceph, the experiment's [ceph]
//	               conf; then $CEPH_CONF, then $POLYTROPON_CEPH_CONF)
//	ceph_keyring   keyring of ceph_user (default: Request.Ceph's, else
//	               keyring next to ceph_conf)
//	ceph_user      client that creates tenants (default: Request.Ceph's,
//	               else "admin")
//	ceph_fs_name   CephFS file system (default: Request.Ceph's, else the
//	               cluster's default)
//	client_*, fuse_*, rados_*, objecter_*
//	               ceph-fuse configuration options, passed as --name=value
//	               (client_oc_size = 268435456, client_cache_size, ...)

// cephVariant is one of the ceph-fuse based systems.
type cephVariant struct {
	name      string
	pageCache bool // kernel page cache over the FUSE mounts
	union     bool // unionfs-fuse over ceph-fuse
}

// cephFuseSystem implements the variants.
type cephFuseSystem struct{ v cephVariant }

func (s *cephFuseSystem) Name() string { return s.v.name }

// Backend is the storage backend the system runs on.
func (*cephFuseSystem) Backend() string { return "ceph" }

// CephCluster says which cluster a Ceph system uses and which client
// makes its tenants: the experiment's [ceph] table (Request.Ceph), and the
// options ceph_conf, ceph_keyring, ceph_user and ceph_fs_name of a Ceph
// system, which override it.
type CephCluster struct {
	Conf    string `toml:"ceph_conf"`    // ceph.conf
	Keyring string `toml:"ceph_keyring"` // keyring of User
	User    string `toml:"ceph_user"`    // client name without "client."
	FSName  string `toml:"ceph_fs_name"` // CephFS file system
}

// over returns the cluster c with what o sets replacing it.
func (c CephCluster) over(o CephCluster) CephCluster {
	for _, f := range []struct{ dst, src *string }{{&c.Conf, &o.Conf}, {&c.Keyring, &o.Keyring}, {&c.User, &o.User}, {&c.FSName, &o.FSName}} {
		if *f.src != "" {
			*f.dst = *f.src
		}
	}
	return c
}

// CephFuseOptions are the options of F-ceph, FP-ceph, F/F and FP/FP.
type CephFuseOptions struct {
	CephCluster
	// Client are ceph-fuse configuration options, passed as --name=value.
	Client stack.CephConfig `toml:"-" prefix:"client_ fuse_ rados_ objecter_"`
}

// cephFusePrefixes are the prefixes of ceph-fuse's options.
var cephFusePrefixes = []string{"client_", "fuse_", "rados_", "objecter_"}

// NewOptions returns the options with their defaults (none set).
func (*cephFuseSystem) NewOptions() any { return &CephFuseOptions{} }

// Validate checks the names of the ceph-fuse options.
func (o *CephFuseOptions) Validate() error { return o.Client.Check(cephFusePrefixes...) }

// Check reports whether ceph-fuse mounts (and unionfs for the unions) can
// be made here.
func (s *cephFuseSystem) Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s must run as root (pools, mounts inside them)", ErrUnavailable, s.v.name)
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("%w: %s needs /dev/fuse (a kernel with FUSE)", ErrUnavailable, s.v.name)
	}
	progs := []struct{ prog, pkg string }{{"ceph-fuse", "ceph-fuse"}, {"ceph", "ceph-common"}, {"fusermount3", "fuse3"}}
	if s.v.union {
		progs = append(progs, struct{ prog, pkg string }{"unionfs", "unionfs-fuse"})
	}
	for _, p := range progs {
		if _, err := exec.LookPath(p.prog); err != nil {
			return fmt.Errorf("%w: %s needs %s: apt-get install %s", ErrUnavailable, s.v.name, p.prog, p.pkg)
		}
	}
	// The cluster itself comes with the request (options from the
	// experiment's [ceph] table, or the environment): Setup checks it.
	return nil
}

// DefaultCephConf is the cluster `polytropon ceph up` makes without -dir;
// locate falls back to it when it exists.
var DefaultCephConf = "/tmp/polytropon-ceph/ceph.conf"

// locate finds the cluster: c's conf, then the environment, then
// DefaultCephConf when it exists; and the keyring: c's, else one next to
// the conf. The answer has both filled in where they were found. No
// cluster at all is ErrUnavailable.
func (c CephCluster) locate() (CephCluster, error) {
	for _, env := range []string{"CEPH_CONF", "POLYTROPON_CEPH_CONF"} {
		if c.Conf == "" {
			c.Conf = os.Getenv(env)
		}
	}
	if c.Conf == "" && fileExists(DefaultCephConf) {
		c.Conf = DefaultCephConf
	}
	if c.Conf == "" {
		return c, fmt.Errorf("%w: no Ceph cluster configured: set [ceph] conf, option ceph_conf, $CEPH_CONF or $POLYTROPON_CEPH_CONF, or start one with polytropon ceph up (%s)", ErrUnavailable, DefaultCephConf)
	}
	if _, err := os.Stat(c.Conf); err != nil {
		return c, fmt.Errorf("ceph.conf: %w", err)
	}
	if c.Keyring == "" {
		if k := filepath.Join(filepath.Dir(c.Conf), "keyring"); fileExists(k) {
			c.Keyring = k
		}
	}
	return c, nil
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Setup makes the pool's tenant (directory and key) and mounts its
// containers.
func (s *cephFuseSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if err := checkRequest(s.v.name, req, "ceph", "runs on the ceph backend only (backend = \"ceph\"); use F/FP for the local one"); err != nil {
		return nil, err
	}
	o, err := optionsOf[CephFuseOptions](s, req)
	if err != nil {
		return nil, err
	}
	if req.Lower != "" && !s.v.union {
		return nil, fmt.Errorf("systems: %s has no union for a shared lower image (%s); use F/F or FP/FP", s.v.name, req.Lower)
	}
	if _, err := lowerDir(s.v.name, req); err != nil {
		return nil, err
	}
	if p == nil {
		return nil, fmt.Errorf("systems: %s: needs a pool to run its clients in", s.v.name)
	}
	cluster, err := req.Ceph.over(o.CephCluster).locate()
	if err != nil {
		return nil, fmt.Errorf("systems: %s: %w", s.v.name, err)
	}
	in := &cephInstance{sys: s, pool: p, cluster: cluster, client: o.Client, workDir: req.WorkDir}
	if err := in.setup(ctx, req); err != nil {
		return nil, setupFailed(ctx, s.v.name, req, in, err)
	}
	return in, nil
}

// cephInstance is a ceph-fuse based system set up for one pool.
type cephInstance struct {
	sys     *cephFuseSystem
	pool    Pool
	cluster CephCluster      // located: Conf set, Keyring the admin's when found
	client  stack.CephConfig // ceph-fuse options of every mount
	workDir string

	mu         sync.Mutex // guards the fields below
	tenant     string     // client id of the pool ("" until made)
	keyring    string     // the tenant's keyring file
	dir        string     // the pool's directory in the file system
	dirMade    bool
	unions     []*fuseDaemon // unionfs daemons, torn down first
	clients    []*fuseDaemon // ceph-fuse daemons
	containers []Container
	torn       bool
}

func (in *cephInstance) Container(i int) Container { return in.containers[i] }

func (in *cephInstance) setup(ctx context.Context, req Request) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	h := fnv.New32a()
	h.Write([]byte(req.WorkDir))
	run := fmt.Sprintf("%08x", h.Sum32())
	in.dir = fmt.Sprintf("/polytropon/%s/p%d", run, req.Pool)
	in.tenant = fmt.Sprintf("polytropon-%s-p%d", run, req.Pool)

	// The pool's directories (and image) with the admin key.
	dirs := []string{in.dir}
	for i := range req.Containers {
		dirs = append(dirs, fmt.Sprintf("%s/c%d", in.dir, i))
	}
	if in.sys.v.union {
		dirs = append(dirs, in.dir+"/image")
	}
	in.dirMade = true
	if err := in.admin(ctx, func(mnt string) error {
		for _, d := range dirs {
			if err := os.MkdirAll(mnt+d, 0o755); err != nil {
				return err
			}
		}
		if in.sys.v.union && req.Lower != "" {
			if _, err := hostCmd(ctx, "cp", "-a", "--", req.Lower+"/.", mnt+in.dir+"/image"); err != nil {
				return fmt.Errorf("copying the lower image into the file system: %w", err)
			}
		}
		return nil
	}); err != nil {
		return err
	}

	// The tenant's key, limited to the pool's directory.
	out, err := in.cephCmd(ctx, "fs", "authorize", in.fsName(), "client."+in.tenant, in.dir, "rw")
	if err != nil {
		in.tenant = ""
		return err
	}
	in.keyring = filepath.Join(in.workDir, "client."+in.tenant+".keyring")
	if err := os.WriteFile(in.keyring, []byte(out), 0o600); err != nil {
		return err
	}

	var image string
	if in.sys.v.union {
		image = filepath.Join(in.workDir, "image")
		// unionfs-fuse copies a file up through mmap, which a direct-I/O
		// FUSE file refuses (ENODEV), so the image mount keeps the page
		// cache even for F/F; the union and private mounts bypass it.
		if _, err := in.mountCeph(ctx, in.dir+"/image", image, false); err != nil {
			return fmt.Errorf("image: %w", err)
		}
	}
	for i := range req.Containers {
		cdir := filepath.Join(in.workDir, "c"+strconv.Itoa(i))
		own := filepath.Join(cdir, "ceph")
		if _, err := in.mountCeph(ctx, fmt.Sprintf("%s/c%d", in.dir, i), own, !in.sys.v.pageCache); err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
		if !in.sys.v.union {
			in.containers = append(in.containers, Container{Dir: own, FS: FSSpec{Kind: HostKind}})
			continue
		}
		mnt := filepath.Join(cdir, "root")
		if err := in.mountUnion(ctx, own, image, mnt); err != nil {
			return fmt.Errorf("container %d: %w", i, err)
		}
		in.containers = append(in.containers, Container{Dir: mnt, FS: FSSpec{Kind: HostKind}})
	}
	return nil
}

func (in *cephInstance) fsName() string {
	if n := in.cluster.FSName; n != "" {
		return n
	}
	return "cephfs"
}

// adminUser is the client that creates tenants.
func (in *cephInstance) adminUser() string {
	if u := in.cluster.User; u != "" {
		return u
	}
	return "admin"
}

// cephCmd runs the ceph CLI with the admin key.
func (in *cephInstance) cephCmd(ctx context.Context, args ...string) (string, error) {
	argv := []string{"ceph", "-c", in.cluster.Conf, "--connect-timeout", "30", "--id", in.adminUser()}
	if in.cluster.Keyring != "" {
		argv = append(argv, "-k", in.cluster.Keyring)
	}
	return hostCmd(ctx, append(argv, args...)...)
}

// noDieOnDentryInvalidate keeps ceph-fuse alive when it cannot make the
// kernel drop dentries (it then remounts, which fails in a pool's mount
// namespace): with Pacific's default it quits without closing its MDS
// session, and the MDS blocks the tenant's other clients until it evicts the
// session about a minute later (seen in 4 of ~150 mounts here).
const noDieOnDentryInvalidate = "--client_die_on_failed_dentry_invalidate=false"

// clientArgs are the ceph-fuse arguments every mount of the pool shares;
// directIO adds fuse_disable_pagecache.
func (in *cephInstance) clientArgs(directIO bool) []string {
	args := []string{"-f", "-c", in.cluster.Conf, noDieOnDentryInvalidate}
	if n := in.cluster.FSName; n != "" {
		args = append(args, "--client_fs="+n)
	}
	for _, k := range slices.Sorted(maps.Keys(in.client)) {
		args = append(args, "--"+k+"="+in.client[k])
	}
	if directIO {
		// ceph-fuse then opens every file with FOPEN_DIRECT_IO.
		args = append(args, "--fuse_disable_pagecache=true")
	}
	return args
}

// admin mounts the root of the file system with the admin key on the host,
// runs fn on the mount point and unmounts it.
func (in *cephInstance) admin(ctx context.Context, fn func(mnt string) error) error {
	mnt, err := os.MkdirTemp(in.workDir, "admin-")
	if err != nil {
		return err
	}
	defer os.Remove(mnt)
	argv := []string{"ceph-fuse", "-f", "-c", in.cluster.Conf, noDieOnDentryInvalidate, "--id", in.adminUser()}
	if in.cluster.Keyring != "" {
		argv = append(argv, "-k", in.cluster.Keyring)
	}
	if n := in.cluster.FSName; n != "" {
		argv = append(argv, "--client_fs="+n)
	}
	var out bytes.Buffer
	cmd := exec.Command(argv[0], append(argv[1:], mnt)...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("admin ceph-fuse: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fuseStopTimeout)
		defer cancel()
		if _, err := hostCmd(uctx, "fusermount3", "-u", mnt); err != nil {
			_, _ = hostCmd(uctx, "umount", "-l", mnt)
		}
		select {
		case <-exited:
			return nil
		case <-time.After(fuseStopTimeout):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("admin ceph-fuse on %s did not exit after unmount; killed", mnt)
		}
	}
	deadline := time.Now().Add(fuseReadyTimeout)
	for {
		if mountPointIn("/proc/self/mountinfo", mnt) {
			break
		}
		select {
		case err := <-exited:
			return fmt.Errorf("admin ceph-fuse exited before mounting (%v): %s", err, strings.TrimSpace(out.String()))
		case <-ctx.Done():
			return errors.Join(ctx.Err(), stop())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.Join(fmt.Errorf("admin ceph-fuse did not mount within %v: %s", fuseReadyTimeout, out.String()), stop())
		}
	}
	err = fn(mnt)
	return errors.Join(err, stop())
}

// mountCeph starts a ceph-fuse of the tenant inside the pool, mounting dir
// of the file system on mnt.
func (in *cephInstance) mountCeph(ctx context.Context, dir, mnt string, directIO bool) (*fuseDaemon, error) {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return nil, err
	}
	args := append([]string{"ceph-fuse"}, in.clientArgs(directIO)...)
	args = append(args, "--id", in.tenant, "-k", in.keyring, "-r", dir, mnt)
	d, err := in.startDaemon(ctx, args, mnt, mnt+".log")
	if d != nil {
		in.clients = append(in.clients, d)
	}
	return d, err
}

// mountUnion starts unionfs-fuse inside the pool: upper read-write over the
// read-only image, copy-on-write.
func (in *cephInstance) mountUnion(ctx context.Context, upper, image, mnt string) error {
	if err := os.MkdirAll(mnt, 0o755); err != nil {
		return err
	}
	opts := "cow,allow_other,use_ino"
	if !in.sys.v.pageCache {
		opts += ",direct_io"
	}
	args := []string{"unionfs", "-f", "-o", opts, upper + "=RW:" + image + "=RO", mnt}
	d, err := in.startDaemon(ctx, args, mnt, mnt+".log")
	if d != nil {
		in.unions = append(in.unions, d)
	}
	return err
}

func (in *cephInstance) startDaemon(ctx context.Context, argv []string, mnt, logPath string) (*fuseDaemon, error) {
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	proc, err := in.pool.Start(ctx, Cmd{Path: path, Args: argv, Stdout: logf, Stderr: logf})
	logf.Close()
	if err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	d := &fuseDaemon{dir: mnt, mnt: mnt, logPath: logPath, proc: proc}
	mountinfo := fmt.Sprintf("/proc/%d/mountinfo", proc.HostPid())
	deadline := time.Now().Add(fuseReadyTimeout)
	for delay := time.Millisecond; !mountPointIn(mountinfo, mnt); delay = min(2*delay, 50*time.Millisecond) {
		if proc.Exited() {
			return d, fmt.Errorf("%s exited before mounting %s (%v); log:\n%s", argv[0], mnt, proc.Wait(), readTail(logPath))
		}
		if time.Now().After(deadline) {
			return d, fmt.Errorf("%s: %s not mounted after %v; log:\n%s", argv[0], mnt, fuseReadyTimeout, readTail(logPath))
		}
		select {
		case <-ctx.Done():
			return d, ctx.Err()
		case <-time.After(delay):
		}
	}
	return d, nil
}

// mountPointIn reports whether a mountinfo file (/proc/<pid>/mountinfo, so
// a pool's namespace can be inspected) lists a mount on dir.
func mountPointIn(mountinfo, dir string) bool {
	data, err := os.ReadFile(mountinfo)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMountPath(f[4]) == dir {
			return true
		}
	}
	return false
}

// Teardown unmounts the unions, then the ceph-fuse clients (inside the
// pool, with fusermount3 -u; SIGKILL and a lazy unmount when one does not
// go), then removes the pool's directory from the file system, its key and
// the mount points. Safe to call more than once.
func (in *cephInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	var errs []error
	for _, group := range [][]*fuseDaemon{in.unions, in.clients} {
		for i := len(group) - 1; i >= 0; i-- {
			if err := in.stopDaemon(ctx, group[i]); err != nil {
				errs = append(errs, err)
			}
		}
	}
	in.unions, in.clients = nil, nil
	if in.dirMade && len(errs) == 0 {
		if err := in.admin(ctx, func(mnt string) error { return os.RemoveAll(mnt + in.dir) }); err != nil {
			errs = append(errs, fmt.Errorf("removing %s from the file system: %w", in.dir, err))
		}
	}
	if in.tenant != "" {
		if _, err := in.cephCmd(ctx, "auth", "rm", "client."+in.tenant); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		// Never remove a tree a leftover mount may still show.
		for _, sub := range []string{"image", "image.log"} {
			os.RemoveAll(filepath.Join(in.workDir, sub))
		}
		entries, _ := os.ReadDir(in.workDir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "c") || strings.HasSuffix(e.Name(), ".keyring") {
				os.RemoveAll(filepath.Join(in.workDir, e.Name()))
			}
		}
	}
	in.torn = true
	return errors.Join(errs...)
}

// stopDaemon unmounts one FUSE mount from inside the pool and waits for its
// daemon; SIGKILL and a lazy unmount when it does not go.
func (in *cephInstance) stopDaemon(ctx context.Context, d *fuseDaemon) error {
	if d.proc == nil || d.proc.Exited() {
		return in.leftover(ctx, d.mnt)
	}
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fuseStopTimeout)
	err := runIn(uctx, in.pool, Cmd{Path: "fusermount3", Args: []string{"fusermount3", "-u", d.mnt}})
	cancel()
	if err != nil {
		_ = d.proc.Signal(syscall.SIGTERM)
	}
	done := make(chan error, 1)
	go func() { done <- d.proc.Wait() }()
	select {
	case <-done:
		return in.leftover(ctx, d.mnt)
	case <-time.After(fuseStopTimeout):
	}
	_ = d.proc.Signal(syscall.SIGKILL)
	<-done
	return errors.Join(fmt.Errorf("systems: daemon of %s did not exit after unmount; killed", d.mnt), in.leftover(ctx, d.mnt))
}

// leftover removes a mount still on mnt in the pool after its daemon died.
func (in *cephInstance) leftover(ctx context.Context, mnt string) error {
	if !mountPointIn(fmt.Sprintf("/proc/%d/mountinfo", in.pool.EnginePid()), mnt) {
		return nil
	}
	if err := runIn(ctx, in.pool, Cmd{Path: "umount", Args: []string{"umount", "-l", mnt}}); err != nil {
		return fmt.Errorf("systems: cannot remove the leftover mount %s: %w", mnt, err)
	}
	return nil
}
