package systems

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/client"
	"polytropon/fs/fuse"
	"polytropon/fs/preload"
	"polytropon/fs/service"
	"polytropon/fs/stack"
	"polytropon/ipc/queue"
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

// serviceBinary finds the polytropon executable.
func serviceBinary(opt string) (string, error) {
	for _, cand := range []string{opt, os.Getenv("POLYTROPON_BIN")} {
		if cand != "" {
			if _, err := os.Stat(cand); err != nil {
				return "", fmt.Errorf("%w: service binary %s: %v", ErrUnavailable, cand, err)
			}
			return cand, nil
		}
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "polytropon" {
		return exe, nil
	}
	if p, err := exec.LookPath("polytropon"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: the filesystem service needs the polytropon binary (set option binary or $POLYTROPON_BIN, or put it in PATH)", ErrUnavailable)
}

// Check reports whether the service binary can be found.
func (*userlevelSystem) Check() error {
	_, err := serviceBinary("")
	return err
}

var userlevelOptions = map[string]bool{
	"binary": true, "preload": true, "fuse": true, "fuse_kernel_cache": true,
	"design": true, "wait": true, "copy": true, "buffers": true,
	"buffer_size": true, "queues": true, "pin": true, "cache": true, "odirect": true,
}

// preloadLibrary returns the preload library for ProcEnv: opt if set, else
// fs/preload's library, rebuilt with make when make and gcc are installed
// (a no-op when it is up to date).
func preloadLibrary(opt string) (string, error) {
	if opt != "" {
		abs, err := filepath.Abs(opt)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("systems: D: option preload: %w", err)
		}
		return abs, nil
	}
	lib, err := preload.Path()
	if err != nil {
		return "", fmt.Errorf("%w: D: cannot locate %s (set option preload or $POLYTROPON_PRELOAD): %v", ErrUnavailable, preload.LibName, err)
	}
	var missing []string
	for _, tool := range []string{"make", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		if _, err := os.Stat(lib); err == nil {
			return lib, nil // prebuilt; it cannot be rebuilt here
		}
		return "", fmt.Errorf("%w: D: %s is missing and cannot be built without %s (Debian packages: %s)",
			ErrUnavailable, lib, strings.Join(missing, " and "), strings.Join(missing, ", "))
	}
	if lib, err = preload.Build(); err != nil {
		return "", fmt.Errorf("systems: D: building the preload library: %w", err)
	}
	return lib, nil
}

// boolOption parses a boolean option with a default.
func boolOption(o map[string]string, key string, def bool) (bool, error) {
	v := o[key]
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("systems: D: option %s = %q is not a boolean", key, v)
	}
	return b, nil
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

// withDefaultWait picks the service's wait strategy when the experiment did
// not: spin-then-futex (the papers' choice) only when the pool owns at least
// two cores that no other pool shares, so a polling service thread never
// takes the core its own tenant's application needs; plain futex sleeps
// otherwise (measured in docs/bench-preload.md: spinning on oversubscribed
// cores made db_bench fillrandom 4.8x slower). It returns a copy; opts is
// shared by every pool of the experiment.
func withDefaultWait(opts map[string]string, cores int, oversubscribed bool) map[string]string {
	if opts["wait"] != "" {
		return opts
	}
	out := make(map[string]string, len(opts)+1)
	for k, v := range opts {
		out[k] = v
	}
	out["wait"] = queue.SpinFutex.String()
	if cores < 2 || oversubscribed {
		out["wait"] = queue.Futex.String()
	}
	return out
}

// userlevelConfig builds the service configuration and the containers.
func userlevelConfig(poolName, lib string, req Request) (service.Config, []Container, error) {
	o := req.Options
	cfg := service.Config{Pool: poolName, Design: o["design"], Wait: o["wait"], Copy: o["copy"], Pin: true}
	for k, dst := range map[string]*int{"buffers": &cfg.Buffers, "buffer_size": &cfg.BufferSize, "queues": &cfg.Queues} {
		if v := o[k]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return cfg, nil, fmt.Errorf("systems: D: option %s = %q is not an integer", k, v)
			}
			*dst = n
		}
	}
	var err error
	if cfg.Pin, err = boolOption(o, "pin", true); err != nil {
		return cfg, nil, err
	}
	ten, err := parseTenants(o, req.Containers)
	if err != nil {
		return cfg, nil, err
	}
	// The default stack is the papers' single-host D: the user-level cache
	// over the union over local branches opened with O_DIRECT, so D keeps
	// no kernel page cache and flushes on the pool's own cores.
	useCache, err := boolOption(o, "cache", ten == nil)
	if err != nil {
		return cfg, nil, err
	}
	odirect, err := boolOption(o, "odirect", true)
	if err != nil {
		return cfg, nil, err
	}
	useFuse, err := boolOption(o, "fuse", true)
	if err != nil {
		return cfg, nil, err
	}
	fuseCache, err := boolOption(o, "fuse_kernel_cache", false)
	if err != nil {
		return cfg, nil, err
	}
	cacheOpts := map[string]string{}
	for k, v := range o {
		if strings.HasPrefix(k, "cache_") {
			cacheOpts[strings.TrimPrefix(k, "cache_")] = v
		}
	}
	if len(cacheOpts) > 0 && !useCache {
		return cfg, nil, fmt.Errorf("systems: D: cache_* options without cache = true")
	}
	if ten != nil && (useCache || len(cacheOpts) > 0) {
		return cfg, nil, fmt.Errorf("systems: D: tenant_* options build the tenants' shared cache; leave out cache and cache_*")
	}
	if ten != nil && req.Lower != "" {
		return cfg, nil, fmt.Errorf("systems: D: tenant_* options with a shared lower image are not supported")
	}
	var lower string
	if req.Lower != "" {
		abs, err := filepath.Abs(req.Lower)
		if err != nil {
			return cfg, nil, err
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			return cfg, nil, fmt.Errorf("systems: D: lower image %s is not a directory", req.Lower)
		}
		lower = abs
	}
	var containers []Container
	for i := 0; i < req.Containers; i++ {
		cdir := filepath.Join(req.WorkDir, fmt.Sprintf("c%d", i))
		upper, mnt := filepath.Join(cdir, "upper"), filepath.Join(cdir, "root")
		for _, d := range []string{upper, mnt} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return cfg, nil, fmt.Errorf("systems: D: %w", err)
			}
		}
		var top stack.Layer
		if lower != "" {
			top = stack.Layer{Type: "union", Branches: []stack.Layer{
				{Type: "local", Dir: upper, ODirect: odirect},
				{Type: "local", Dir: lower, ReadOnly: true, Shared: "image", ODirect: odirect},
			}}
		} else {
			top = stack.Layer{Type: "local", Dir: upper, ODirect: odirect}
		}
		layers := []stack.Layer{top}
		if useCache {
			layers = append([]stack.Layer{{Type: "cache", Options: cacheOpts}}, layers...)
		}
		if ten != nil {
			layers = ten.stack(poolName, i, upper)
		}
		// The mount path is a real host directory, and the service
		// mounts the instance on it with FUSE inside the pool: the kernel
		// (exec, mmap, programs without the library) and the library see
		// the same files at the same path.
		cfg.Instances = append(cfg.Instances, service.InstanceConfig{Path: mnt, Share: true, Stack: layers,
			Fuse: service.FuseTarget{AtPath: useFuse}, FuseKernelCache: useFuse && fuseCache})
		containers = append(containers, Container{
			Dir:     mnt,
			ProcEnv: preload.Env(lib, 0, poolName),
			FS:      FSSpec{Kind: ClientKind, Options: map[string]string{"pool": poolName, "root": mnt}},
		})
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("systems: D: %w", err)
	}
	return cfg, containers, nil
}

// userlevelInstance is D (or F, FP: fuse.go) set up for one pool.
type userlevelInstance struct {
	name       string // the system, for messages
	pool       Pool
	containers []Container
	fuse       bool     // the service FUSE-mounts every container's instance
	logPath    string   // the service's stderr
	made       []string // files start wrote for the service (config, log)

	mu      sync.Mutex
	proc    Process
	logFile *os.File
	torn    bool
}

func (in *userlevelInstance) Container(i int) Container { return in.containers[i] }

// ServicePIDs returns the host pid of the pool's filesystem service
// (runner.ServicePIDer): the userlock collector reads its Go runtime lock
// waits through $POLYTROPON_METRICS_FILE.
func (in *userlevelInstance) ServicePIDs() []int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.proc == nil || in.proc.Exited() {
		return nil
	}
	return []int{in.proc.HostPid()}
}

// start writes the configuration and runs the service in the pool until
// it prints its ready line.
func (in *userlevelInstance) start(ctx context.Context, bin string, cfg service.Config, workDir string, extraEnv []string) error {
	cfgFile := filepath.Join(workDir, "serve.toml")
	f, err := os.Create(cfgFile)
	if err != nil {
		return err
	}
	in.made = append(in.made, cfgFile)
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", cfgFile, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	logPath := filepath.Join(workDir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	in.made = append(in.made, logPath)
	env := append(os.Environ(), extraEnv...)
	pr, pw := io.Pipe()
	in.mu.Lock()
	in.logFile, in.logPath = logFile, logPath
	in.proc, err = in.pool.Start(ctx, Cmd{Path: bin, Args: []string{bin, "serve", "-config", cfgFile}, Env: env, Stdout: pw, Stderr: logFile})
	proc := in.proc
	in.mu.Unlock()
	if err != nil {
		pw.Close()
		return fmt.Errorf("starting the service: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		first := true
		for sc.Scan() {
			if first {
				first = false
				if strings.HasPrefix(sc.Text(), "ready ") {
					ready <- nil
				} else {
					ready <- fmt.Errorf("service said %q", sc.Text())
				}
			}
		}
		if first {
			ready <- fmt.Errorf("service exited before it was ready")
		}
	}()
	go func() {
		proc.Wait()
		pw.Close()
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("service not ready after 30s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w; log %s:\n%s", err, logPath, log)
	}
	// The service mounts before it says ready; check it from its own
	// mount namespace (the pool's).
	if in.fuse {
		for _, c := range in.containers {
			ok, err := fuse.IsMounted(fmt.Sprintf("/proc/%d/mountinfo", proc.HostPid()), c.Dir)
			if !ok {
				return fmt.Errorf("the service is ready but %s is not FUSE-mounted (%v); log %s:\n%s", c.Dir, err, logPath, readTail(logPath))
			}
		}
	}
	return nil
}

// Teardown stops the service (SIGTERM: it unmounts its FUSE mounts, lazily
// when busy, and removes its segment), killing it after 10 s, and removes
// FUSE mounts a killed service left in the pool. A lazy detach is
// reported, like K's.
func (in *userlevelInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	in.torn = true
	var err error
	if in.proc != nil {
		// A service that is gone before it is asked to stop, or that a
		// signal other than ours ended, crashed or was killed: reported.
		gone := in.proc.Exited()
		if !gone {
			in.proc.Signal(syscall.SIGTERM)
		}
		done := make(chan error, 1)
		go func() { done <- in.proc.Wait() }()
		select {
		case werr := <-done:
			// An error without an exit status: the pool went away first.
			if ws, ok := ExitStatus(werr); ok && (gone || ws.Signaled() && ws.Signal() != syscall.SIGTERM) {
				err = fmt.Errorf("systems: %s: the service exited with %v before teardown; log %s:\n%s", in.name, werr, in.logPath, readTail(in.logPath))
			}
		case <-time.After(10 * time.Second):
			in.proc.Signal(syscall.SIGKILL)
			<-done
			err = fmt.Errorf("systems: %s: the service did not stop on SIGTERM within 10s", in.name)
		}
	}
	if in.logFile != nil {
		in.logFile.Close()
		if log, _ := os.ReadFile(in.logPath); bytes.Contains(log, []byte("detached lazily")) {
			err = errors.Join(err, fmt.Errorf("systems: %s: a FUSE mount was busy, detached lazily (processes of the pool still use it)", in.name))
		}
	}
	if in.fuse && in.pool != nil {
		for _, c := range in.containers {
			if uerr := unmountLeftover(ctx, in.pool, c.Dir); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}
	return err
}

// tenantOptions are the options parseTenants reads.
var tenantOptions = map[string]bool{
	"tenant_weights": true, "tenant_policy": true, "tenant_aging": true, "tenant_cache": true, "tenant_slots": true,
}

// tenantCache is the shared cache of the tenants (containers) of a pool.
type tenantCache struct {
	weights  []int
	policy   string // conventional, justitia or direct
	aging    bool
	perBytes int64 // cache per tenant
	slots    int
}

// parseTenants reads the tenant_* options; nil when there are none.
func parseTenants(o map[string]string, containers int) (*tenantCache, error) {
	set := false
	for k := range tenantOptions {
		if _, ok := o[k]; ok {
			set = true
		}
	}
	if !set {
		return nil, nil
	}
	t := &tenantCache{policy: o["tenant_policy"], slots: 1}
	for i, f := range strings.Split(o["tenant_weights"], ",") {
		w, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || w < 1 || w > cache.MaxWeight {
			return nil, fmt.Errorf("systems: D: tenant_weights = %q: weight %d is not an integer 1..%d", o["tenant_weights"], i, cache.MaxWeight)
		}
		t.weights = append(t.weights, w)
	}
	if len(t.weights) != containers {
		return nil, fmt.Errorf("systems: D: tenant_weights = %q: %d weights for %d containers (tenant i is container i)", o["tenant_weights"], len(t.weights), containers)
	}
	switch t.policy {
	case "conventional", "justitia", "direct":
	default:
		return nil, fmt.Errorf("systems: D: tenant_policy = %q: want conventional, justitia or direct", t.policy)
	}
	var err error
	if t.aging, err = boolOption(o, "tenant_aging", false); err != nil {
		return nil, err
	}
	if v := o["tenant_slots"]; v != "" {
		if t.slots, err = strconv.Atoi(v); err != nil || t.slots < 1 {
			return nil, fmt.Errorf("systems: D: tenant_slots = %q: want an integer >= 1", v)
		}
	}
	if t.policy != "direct" {
		v := o["tenant_cache"]
		if t.perBytes, err = strconv.ParseInt(v, 10, 64); err != nil || t.perBytes <= 0 {
			return nil, fmt.Errorf("systems: D: tenant_cache = %q: want the bytes of cache per tenant (> 0)", v)
		}
	}
	return t, nil
}

// stack is container i's stack: its private directory with O_DIRECT,
// under its tenant of the pool's shared cache unless the policy is direct.
func (t *tenantCache) stack(poolName string, i int, dir string) []stack.Layer {
	bottom := stack.Layer{Type: "local", Dir: dir, ODirect: true}
	if t.policy == "direct" {
		return []stack.Layer{bottom}
	}
	policy := "clock2q" // conventional: kernel-like active/inactive lists, FIFO queue
	if t.policy == "justitia" {
		policy = "weighted" // weight-aware reclamation and weight-ordered queue
	}
	opts := map[string]string{
		"pool":          "tenants-" + poolName,
		"tenant":        fmt.Sprintf("c%d", i),
		"weight":        strconv.Itoa(t.weights[i]),
		"pool_capacity": strconv.FormatInt(t.perBytes*int64(len(t.weights)), 10),
		"pool_policy":   policy,
		"pool_aging":    strconv.FormatBool(t.aging),
		"pool_slots":    strconv.Itoa(t.slots),
	}
	return []stack.Layer{{Type: "cache", Options: opts}, bottom}
}
