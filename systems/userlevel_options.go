package systems

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"polytropon/fs/preload"
	"polytropon/fs/service"
	"polytropon/fs/stack"
	"polytropon/internal/units"
	"polytropon/ipc/queue"
)

// D's options, their defaults and what they resolve to: the service
// binary, the preload library, the service's settings and its default
// wait strategy. F, FP and D-ceph build D's configuration from these
// options (D-ceph's embed them), so they share all of it.

// UserlevelOptions are the options of D ([options.D]; the doc comment of
// D lists them). Their defaults are defaultUserlevelOptions'.
type UserlevelOptions struct {
	Binary          string `toml:"binary"`
	Preload         string `toml:"preload"`
	Fuse            bool   `toml:"fuse"`
	FuseKernelCache bool   `toml:"fuse_kernel_cache"`
	ServiceOptions
	// Cache puts the client cache over each container's stack; nil is
	// the default: on, except for tenants, whose shared cache D builds.
	Cache *bool `toml:"cache"`
	// CacheLayer are the cache's settings, the keys cache_<setting>
	// (cache_capacity = "512MiB", cache_write_through = true, ...).
	CacheLayer stack.CacheOptions `toml:"-" prefix:"cache_"`
	ODirect    bool               `toml:"odirect"`
	// Ext4ImageSize gives the pool its own ext4 filesystem of this size
	// for the containers' writable branches (loop_ext4.go), as K has;
	// 0 keeps them in the run's directory on the host's filesystem.
	Ext4ImageSize units.Size `toml:"ext4_image_size"`
}

// ServiceOptions are the settings of the pool's filesystem service
// (fs/service.Config); zero values are the service's defaults, but for
// pin (D's default: true) and wait (withDefaultWait).
type ServiceOptions struct {
	Design     string     `toml:"design"`
	Wait       string     `toml:"wait"`
	Copy       string     `toml:"copy"`
	Buffers    int        `toml:"buffers"`
	BufferSize units.Size `toml:"buffer_size"`
	Queues     int        `toml:"queues"`
	Pin        bool       `toml:"pin"`
	Nice       int        `toml:"nice"`
}

// defaultUserlevelOptions are D's options when the experiment sets none:
// the papers' D, with FUSE mounts, the client cache, O_DIRECT branches and
// pinned service threads at nice defaultServiceNice.
func defaultUserlevelOptions() *UserlevelOptions {
	return &UserlevelOptions{Fuse: true, ODirect: true, ServiceOptions: ServiceOptions{Pin: true, Nice: defaultServiceNice}}
}

// NewOptions returns D's options with their defaults: those of
// defaultUserlevelOptions, and the branches on the pool's own ext4
// filesystem of K's default size (defaultExt4ImageSize).
func (*userlevelSystem) NewOptions() any {
	o := defaultUserlevelOptions()
	o.Ext4ImageSize = defaultExt4ImageSize
	return o
}

// defaultExt4ImageSize is the size of a pool's own ext4 image (K's, and
// D's and F's for their branches): sparse, so only what is written takes
// space.
const defaultExt4ImageSize = 4 << 30

// Validate checks the options: the service settings as the service
// would, the cache's settings, and cache_* without the cache.
func (o *UserlevelOptions) Validate() error {
	cfg := o.serviceConfig("check")
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := o.CacheLayer.Validate(); err != nil {
		return fmt.Errorf("option cache_*: %v", err)
	}
	if o.Cache != nil && !*o.Cache && o.CacheLayer != (stack.CacheOptions{}) {
		return fmt.Errorf("cache_* options without cache = true")
	}
	if o.Ext4ImageSize < 0 {
		return fmt.Errorf("option ext4_image_size %v: want a size such as 4GiB, or 0 for the host's filesystem", o.Ext4ImageSize)
	}
	return nil
}

// serviceConfig is the pool's service configuration without instances.
func (o *UserlevelOptions) serviceConfig(poolName string) service.Config {
	s := o.ServiceOptions
	return service.Config{Pool: poolName, Design: s.Design, Wait: s.Wait, Copy: s.Copy, Buffers: s.Buffers,
		BufferSize: s.BufferSize, Queues: s.Queues, Pin: s.Pin, Nice: s.Nice}
}

// useCache reports whether each container's stack has the client cache:
// the option, else on without tenants.
func (o *UserlevelOptions) useCache(tenants bool) bool {
	if o.Cache != nil {
		return *o.Cache
	}
	return !tenants
}

// prepare finds what the pool's service starts with, for system (D or
// D-ceph): the service binary and the preload library; and /dev/fuse
// when the service FUSE-mounts the instances too.
func (o *UserlevelOptions) prepare(system string) (bin, lib string, err error) {
	if bin, err = serviceBinary(o.Binary); err != nil {
		return "", "", err
	}
	if _, err := os.Stat("/dev/fuse"); o.Fuse && err != nil {
		return "", "", fmt.Errorf("%w: %s mounts each container's instance with FUSE too and needs /dev/fuse (or option fuse = false): %v", ErrUnavailable, system, err)
	}
	if lib, err = preloadLibrary(o.Preload); err != nil {
		return "", "", err
	}
	return bin, lib, nil
}

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

// defaultServiceNice is the nice value of D's service threads: on a core
// they share with their clients, the clients must not starve them, and a
// client's enqueue that wakes one should hand it the core at once.
const defaultServiceNice = -10

// withDefaultWait picks the service's wait strategy when the experiment did
// not: adaptive (ipc/queue/adaptive.go), which polls only while polling
// pays and burns a CPU only when the pool has one free, so it serves a pool
// of one core and of several, owned or shared (before it: spin-futex only
// with two owned cores, futex otherwise; spinning on oversubscribed cores
// made db_bench fillrandom 4.8x slower, docs/bench-preload.md). It returns
// a copy: the request's options are not changed.
func withDefaultWait(o ServiceOptions) ServiceOptions {
	if o.Wait == "" {
		o.Wait = queue.Adaptive.String()
	}
	return o
}
