package systems

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"polytropon/fs/mountinfo"
	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
)

// K is the kernel baseline: ext4 on a loop device (or a given host
// directory), reached through plain kernel calls and the kernel page cache.
// The paper's K is kernel CephFS; this kernel has no CephFS client, so on
// the local backend K is ext4 and on the ceph backend it is unavailable.
//
// Options (KernelOptions):
//
//	dir            use this existing host directory instead of a loop image
//	size           size of the sparse ext4 image ("4GiB", "512M"; default 4GiB)
//	mount_options  extra ext4 mount options ("noatime,data=writeback")
//	loop_direct_io the loop device reads and writes its image with direct
//	               I/O (losetup --direct-io=on; default true), so K's data
//	               is cached once, in the page cache of the ext4 inside,
//	               as on a real disk; false is the buffered loop device,
//	               which caches it a second time in the image file's
//	               page cache on the host
func init() { Register(&kernelSystem{name: "K"}) }

// KernelOptions are the options of K and K/K ([options.K]).
type KernelOptions struct {
	Dir          string     `toml:"dir"`
	Size         units.Size `toml:"size"`
	MountOptions string     `toml:"mount_options"`
	LoopDirectIO bool       `toml:"loop_direct_io"`
}

// NewOptions returns K's options with their defaults.
func (*kernelSystem) NewOptions() any {
	return &KernelOptions{Size: defaultExt4ImageSize, LoopDirectIO: true}
}

// Validate checks the options.
func (o *KernelOptions) Validate() error {
	if o.Size <= 0 {
		return fmt.Errorf("option size %v: want a positive size such as 4GiB", o.Size)
	}
	return nil
}

// kernelSystem implements K and, with overlay set, K/K (kernel_overlay.go).
type kernelSystem struct {
	name    string
	overlay bool
}

func (s *kernelSystem) Name() string { return s.name }

// Backend is the storage backend the system runs on.
func (*kernelSystem) Backend() string { return "local" }

// Check reports whether the kernel filesystems and their tools are here.
func (s *kernelSystem) Check() error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s must run as root (mount, losetup)", ErrUnavailable, s.name)
	}
	for _, t := range []struct{ prog, pkg string }{
		{"losetup", "mount"}, {"mount", "mount"}, {"umount", "mount"},
		{"mkfs.ext4", "e2fsprogs"}, {"cp", "coreutils"},
	} {
		if _, err := exec.LookPath(t.prog); err != nil {
			return fmt.Errorf("%w: %s needs %s: apt-get install %s", ErrUnavailable, s.name, t.prog, t.pkg)
		}
	}
	need := []string{"ext4"}
	if s.overlay {
		need = append(need, "overlay")
	}
	have, err := os.ReadFile(hostcheck.ProcFilesystems)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, s.name, err)
	}
	for _, fst := range need {
		if !hasFilesystem(string(have), fst) {
			return fmt.Errorf("%w: %s needs the %s filesystem in the kernel (not in /proc/filesystems)", ErrUnavailable, s.name, fst)
		}
	}
	return nil
}

func hasFilesystem(procFilesystems, name string) bool {
	return hostcheck.HasFilesystem(procFilesystems, name)
}

// Setup prepares one pool: an ext4 image (or a host directory) with one
// subdirectory per container; for K/K an overlay per container on top.
func (s *kernelSystem) Setup(ctx context.Context, p Pool, req Request) (Instance, error) {
	if req.Lower != "" && !s.overlay {
		return nil, fmt.Errorf("systems: K has no union for a shared lower image (%s); use K/K", req.Lower)
	}
	if err := checkRequest(s.name, req, "local", "on the ceph backend needs the kernel CephFS client, which this kernel lacks"); err != nil {
		return nil, err
	}
	o, err := optionsOf[KernelOptions](s, req)
	if err != nil {
		return nil, err
	}
	in := &kernelInstance{sys: s, pool: p, opts: *o}
	if err := in.setup(ctx, req); err != nil {
		return nil, setupFailed(ctx, s.name, req, in, err)
	}
	return in, nil
}

// kernelInstance is K or K/K set up for one pool. Mounts are made inside the
// pool's mount namespace (by a mount(8) started in the pool), so they are
// visible to the pool's processes and vanish with the pool at the latest.
type kernelInstance struct {
	sys  *kernelSystem
	pool Pool
	opts KernelOptions

	mu         sync.Mutex
	img        *loopExt4 // the pool's ext4 image, nil in dir mode
	mounts     []string  // mount points over img, in mount order
	removeDirs []string  // host paths this instance created
	containers []Container
	torn       bool
}

func (in *kernelInstance) Container(i int) Container { return in.containers[i] }

func (in *kernelInstance) setup(ctx context.Context, req Request) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	var base string // where the per-container directories live
	if dir := in.opts.Dir; dir != "" {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("option dir=%q is not an existing directory", dir)
		}
		base = filepath.Join(dir, fmt.Sprintf("pool%d", req.Pool))
		if err := os.Mkdir(base, 0o755); err != nil {
			return fmt.Errorf("option dir: %w", err)
		}
		in.removeDirs = append(in.removeDirs, base)
	} else {
		img, err := makeLoopExt4(ctx, in.pool, req.WorkDir, in.opts.Size.Bytes(), in.opts.LoopDirectIO, in.opts.MountOptions)
		in.img = img
		if err != nil {
			return err
		}
		base = img.mnt
	}
	if in.sys.overlay {
		return in.setupOverlays(ctx, req, base)
	}
	dirs := make([]string, req.Containers)
	for i := range dirs {
		dirs[i] = filepath.Join(base, "c"+strconv.Itoa(i))
		in.containers = append(in.containers, Container{Dir: dirs[i], FS: FSSpec{Kind: HostKind}})
	}
	return poolCmd(ctx, in.pool, append([]string{"mkdir", "-p"}, dirs...)...)
}

// Teardown unmounts (lazily if busy, reporting it), detaches the loop
// device and removes what Setup created. Safe to call more than once.
func (in *kernelInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	var errs []error
	for i := len(in.mounts) - 1; i >= 0; i-- {
		if err := unmount(ctx, in.pool, in.mounts[i]); err != nil {
			errs = append(errs, err)
		}
	}
	in.mounts = nil
	if err := in.img.teardown(ctx); err != nil {
		errs = append(errs, err)
	}
	for i := len(in.removeDirs) - 1; i >= 0; i-- {
		if err := os.RemoveAll(in.removeDirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	in.removeDirs = nil
	in.torn = true
	return errors.Join(errs...)
}

// loopDirectIO reports whether loop device dev does direct I/O on its
// backing file.
func loopDirectIO(dev string) bool {
	data, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "dio"))
	return err == nil && strings.TrimSpace(string(data)) == "1"
}

// loopBackedBy reports whether loop device dev is attached to file.
func loopBackedBy(dev, file string) bool {
	data, err := os.ReadFile(filepath.Join("/sys/block", filepath.Base(dev), "loop", "backing_file"))
	if err != nil {
		return false
	}
	bf := strings.TrimSuffix(strings.TrimSpace(string(data)), " (deleted)")
	return bf == file
}

// unmount removes one mount in the pool's namespace; when busy it detaches
// lazily and says so. If the pool is already gone, a mount left in the host
// namespace (a pool without its own namespaces) is removed there.
func unmount(ctx context.Context, p Pool, mnt string) error {
	err := poolCmd(ctx, p, "umount", mnt)
	if err == nil || strings.Contains(err.Error(), "not mounted") || strings.Contains(err.Error(), "no mount point") {
		return nil
	}
	if errors.Is(err, errPoolGone) {
		if !hostMounted(mnt) {
			return nil
		}
		if _, err := hostCmd(ctx, "umount", mnt); err == nil {
			return nil
		}
		if _, lerr := hostCmd(ctx, "umount", "-l", mnt); lerr != nil {
			return fmt.Errorf("systems: cannot unmount %s: %w", mnt, lerr)
		}
		return fmt.Errorf("systems: %s was busy, detached lazily: %w", mnt, err)
	}
	if lerr := poolCmd(ctx, p, "umount", "-l", mnt); lerr != nil {
		return fmt.Errorf("systems: cannot unmount %s (%v), lazy unmount failed too: %w", mnt, err, lerr)
	}
	return fmt.Errorf("systems: %s was busy, detached lazily (processes of the pool still use it): %w", mnt, err)
}

// hostMounted reports whether mnt is a mount point in our mount namespace.
func hostMounted(mnt string) bool {
	ok, _ := mountinfo.Mounted("/proc/self/mountinfo", mnt)
	return ok
}

// unescapeMountPath undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountPath(s string) string { return mountinfo.Unescape(s) }

// cmdTimeout bounds every helper program, so a wedged mount never hangs a run.
const cmdTimeout = 2 * time.Minute

// hostCmd runs a program on the host and returns its standard output.
func hostCmd(ctx context.Context, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// errPoolGone marks a command that could not start because the pool is gone.
var errPoolGone = errors.New("systems: pool no longer running")

// poolCmd runs a program inside the pool (its mount namespace), or on the
// host when p is nil.
func poolCmd(ctx context.Context, p Pool, argv ...string) error {
	if p == nil {
		_, err := hostCmd(ctx, argv...)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, cmdTimeout)
	defer cancel()
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("%s: %w", argv[0], err)
	}
	// Output goes through one pipe: the pool copies each writer on its
	// own goroutine, and a shared bytes.Buffer would race.
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	var out bytes.Buffer
	copied := make(chan struct{})
	go func() { out.ReadFrom(r); r.Close(); close(copied) }()
	proc, err := p.Start(ctx, Cmd{Path: path, Args: argv, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		<-copied
		return fmt.Errorf("%s in pool: %w: %w", strings.Join(argv, " "), errPoolGone, err)
	}
	err = proc.Wait()
	<-copied
	if err != nil {
		return fmt.Errorf("%s (in pool): %w: %s", strings.Join(argv, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
