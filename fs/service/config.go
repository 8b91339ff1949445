package service

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs/cache"
	"polytropon/fs/stack"
	"polytropon/fs/wire"
	"polytropon/internal/units"
	"polytropon/ipc/queue"
)

// ErrConfig marks an invalid service configuration.
var ErrConfig = errors.New("service: bad configuration")

// Config is the service configuration (one TOML file per pool):
//
//	pool = "p0"               # segment key = wire.SegmentKey(pool); or key = 1234
//	design = "rcqb"           # any queue design with Shared = true
//	wait = "spin-futex"       # spin, spin-futex, futex or adaptive
//	spin_us = 1000            # longest poll of a waiter (adaptive: 50)
//	nice = -10                # nice value of the service threads (0: the process's)
//	buffers = 64              # request buffers (one per concurrently calling client thread)
//	buffer_size = "1MiB"      # data area per buffer (a size: bytes or with a unit)
//	copy = "SMC"              # default data transfer: SMC, SMO or CMA
//	pin = true                # pin service threads to their core group
//	mount_dirs = ["/srv/tenants"]  # host dirs under which MOUNT may create local branches
//	weight_aging = true       # aging in the weighted dispatch (dispatch.go)
//
//	[[instance]]
//	path = "/data"
//	share = true
//	weight = 800              # its requests are served by weight (0: unweighted)
//	fuse = true               # also mount it with FUSE at /data (or fuse = "/mnt/data")
//	stack = [{type = "cache", cache = {capacity = "512MiB"}},
//	         {type = "union", branches = [
//	    {type = "local", dir = "/srv/upper"},
//	    {type = "local", dir = "/srv/image", readonly = true, shared = "image"}]}]
//
// Systems write it with the TOML encoder from this very struct, and
// LoadConfig decodes it strictly into it: the layers' settings are typed
// (fs/stack's CacheOptions and CephFSOptions), and a key no struct has is
// an error naming it.
type Config struct {
	Pool           string     `toml:"pool"`
	Key            int        `toml:"key"`
	Queues         int        `toml:"queues"` // 0: one per core group (CPUs sharing an L2)
	CPUs           []int      `toml:"cpus"`   // CPUs served (default: the process's affinity)
	Design         string     `toml:"design"`
	Wait           string     `toml:"wait"`
	SpinMicros     int        `toml:"spin_us"` // µs a waiting thread polls before it sleeps (spin-futex; adaptive: at most)
	Nice           int        `toml:"nice"`    // nice value of the service threads, -20..19 (0: the process's)
	Buffers        int        `toml:"buffers"`
	BufferSize     units.Size `toml:"buffer_size"` // a size: 1048576 or "1MiB"
	Clients        int        `toml:"clients"`
	Mounts         int        `toml:"mounts"`
	MaxFiles       int        `toml:"max_files"`
	Copy           string     `toml:"copy"`
	Pin            bool       `toml:"pin"`
	ExtraThreshold int        `toml:"extra_threshold"`
	MaxExtra       int        `toml:"max_extra_threads"`
	MountDirs      []string   `toml:"mount_dirs"`
	// WeightAging is aging in the weighted dispatch of requests of
	// instances with weights (dispatch.go); nil: on.
	WeightAging *bool            `toml:"weight_aging,omitempty"`
	Instances   []InstanceConfig `toml:"instance"`
}

// InstanceConfig is one filesystem instance: a stack of libservices
// mounted at Path.
type InstanceConfig struct {
	Path  string        `toml:"path"`
	Share bool          `toml:"share"` // later MOUNTs may share its libservices
	Stack []stack.Layer `toml:"stack"` // top first; see package fs/stack
	// Fuse mounts the same instance with FUSE too (the legacy interface,
	// for static binaries and kernel-initiated I/O: exec, mmap).
	Fuse FuseTarget `toml:"fuse"`
	// FuseKernelCache lets the kernel cache pages, entries and attributes
	// of the FUSE mount (1 s timeouts). Off by default: direct I/O and zero
	// timeouts, so writes through shared memory are seen through the
	// mount at once.
	FuseKernelCache bool `toml:"fuse_kernel_cache"`
	// Weight makes the instance a tenant whose requests the service
	// serves by weight (1..MaxWeight) when its threads are contended;
	// 0: unweighted (back.DefaultWeight among weighted ones).
	Weight int `toml:"weight,omitzero"`
}

// MaxWeight is the largest instance weight (fs/cache's).
const MaxWeight = cache.MaxWeight

// FuseTarget says where an instance is mounted with FUSE. In TOML:
// false or "" = nowhere, true = at the instance's own path, "/dir" = at
// that host directory.
type FuseTarget struct {
	Dir    string // explicit mount point
	AtPath bool   // mount at the instance path
}

// Enabled reports whether a FUSE mount is asked for.
func (f FuseTarget) Enabled() bool { return f.Dir != "" || f.AtPath }

// Mountpoint returns the FUSE mount point of an instance at instPath.
func (f FuseTarget) Mountpoint(instPath string) string {
	if f.Dir != "" {
		return path.Clean(f.Dir)
	}
	if f.AtPath {
		return path.Clean(instPath)
	}
	return ""
}

// UnmarshalTOML accepts a boolean or a string.
func (f *FuseTarget) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case bool:
		*f = FuseTarget{AtPath: x}
	case string:
		*f = FuseTarget{Dir: x}
	default:
		return fmt.Errorf("fuse = %v: want true, false or a mount point path", v)
	}
	return nil
}

// MarshalTOML writes the form UnmarshalTOML reads.
func (f FuseTarget) MarshalTOML() ([]byte, error) {
	if f.Dir != "" {
		return json.Marshal(f.Dir) // a JSON string is a valid TOML basic string
	}
	return []byte(strconv.FormatBool(f.AtPath)), nil
}

// SetFuse asks for a FUSE mount of the instance at instPath (the -fuse
// flag of polytropon serve).
func (c *Config) SetFuse(instPath string, t FuseTarget) error {
	p, err := CleanMountPath(instPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrConfig, err)
	}
	found := false
	for i := range c.Instances {
		if ip, _ := CleanMountPath(c.Instances[i].Path); ip == p {
			c.Instances[i].Fuse = t
			found = true
		}
	}
	if !found {
		return fmt.Errorf("%w: no instance at %s", ErrConfig, p)
	}
	return nil
}

// LoadConfig decodes a TOML file strictly, applies defaults and validates.
func LoadConfig(file string) (Config, error) {
	var c Config
	md, err := toml.DecodeFile(file, &c)
	if err != nil {
		return c, fmt.Errorf("%w: %s: %v", ErrConfig, file, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return c, fmt.Errorf("%w: %s: unknown keys %v", ErrConfig, file, und)
	}
	c.EnsureDefaults()
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("%s: %w", file, err)
	}
	return c, nil
}

// EnsureDefaults fills unset fields.
func (c *Config) EnsureDefaults() {
	if c.Pool == "" && c.Key == 0 {
		c.Pool = os.Getenv("POLYTROPON_POOL")
		if c.Pool == "" {
			c.Pool = "default"
		}
	}
	if c.Design == "" {
		c.Design = "rcqb"
	}
	if c.Wait == "" {
		c.Wait = queue.SpinFutex.String()
	}
	if c.SpinMicros == 0 {
		c.SpinMicros = 1000
		if c.Wait == queue.Adaptive.String() {
			c.SpinMicros = int(queue.AdaptiveMax / time.Microsecond)
		}
	}
	if c.Buffers == 0 {
		c.Buffers = 64
	}
	if c.BufferSize == 0 {
		c.BufferSize = 1 << 20
	}
	if c.Clients == 0 {
		c.Clients = 256
	}
	if c.Mounts == 0 {
		c.Mounts = 256
	}
	if c.MaxFiles == 0 {
		c.MaxFiles = 1 << 16
	}
	if c.Copy == "" {
		c.Copy = "SMC"
	}
}

// Key returns the segment key.
func (c *Config) SegmentKey() int {
	if c.Key != 0 {
		return c.Key
	}
	return wire.SegmentKey(c.Pool)
}

// Validate checks the configuration, naming the first bad field.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrConfig, fmt.Sprintf(format, args...))
	}
	d, err := queue.Lookup(c.Design)
	if err != nil {
		return bad("design: %v", err)
	}
	if !d.Shared {
		return bad("design %q cannot live in shared memory (pick one with Shared = true)", c.Design)
	}
	if _, err := queue.ParseWait(c.Wait); err != nil {
		return bad("wait: %v", err)
	}
	if _, ok := wire.ParseCopy(c.Copy); !ok {
		return bad("copy %q (want SMC, SMO or CMA)", c.Copy)
	}
	switch {
	case c.Queues < 0 || c.Queues > wire.MaxQueues:
		return bad("queues = %d (0..%d)", c.Queues, wire.MaxQueues)
	case c.Buffers < 1 || c.Buffers > 4096:
		return bad("buffers = %d (1..4096)", c.Buffers)
	case c.BufferSize < wire.PageSize || c.BufferSize > 64<<20 || c.BufferSize%wire.PageSize != 0:
		return bad("buffer_size = %d (a multiple of %d up to 64 MiB)", c.BufferSize, wire.PageSize)
	case c.Clients < 1 || c.Clients > 4096:
		return bad("clients = %d (1..4096)", c.Clients)
	case c.Mounts < 1 || c.Mounts > 4096:
		return bad("mounts = %d (1..4096)", c.Mounts)
	case c.MaxFiles < 16 || c.MaxFiles > 1<<24:
		return bad("max_files = %d (16..16M)", c.MaxFiles)
	case c.SpinMicros < 0 || c.SpinMicros > 1_000_000:
		return bad("spin_us = %d (0..1000000)", c.SpinMicros)
	case c.Nice < -20 || c.Nice > 19:
		return bad("nice = %d (-20..19)", c.Nice)
	}
	for _, cpu := range c.CPUs {
		if cpu < 0 || cpu >= wire.MaxCPUs {
			return bad("cpus: CPU %d out of range", cpu)
		}
	}
	for i, d := range c.MountDirs {
		if !path.IsAbs(d) {
			return bad("mount_dirs[%d] = %q is not absolute", i, d)
		}
	}
	seen, fuseAt := map[string]bool{}, map[string]int{}
	for i, in := range c.Instances {
		p, err := CleanMountPath(in.Path)
		if err != nil {
			return bad("instance[%d]: %v", i, err)
		}
		if seen[p] {
			return bad("instance[%d]: path %q mounted twice", i, p)
		}
		seen[p] = true
		if len(in.Stack) == 0 {
			return bad("instance[%d] (%s): empty stack", i, p)
		}
		if in.Weight < 0 || in.Weight > MaxWeight {
			return bad("instance[%d] (%s): weight %d (1..%d, or 0: none)", i, p, in.Weight, MaxWeight)
		}
		if in.Fuse.Enabled() {
			mp := in.Fuse.Mountpoint(p)
			switch {
			case !path.IsAbs(mp):
				return bad("instance[%d] (%s): fuse mount point %q is not absolute", i, p, in.Fuse.Dir)
			case mp == "/":
				return bad("instance[%d] (%s): cannot mount FUSE over / (give fuse a directory)", i, p)
			}
			if j, dup := fuseAt[mp]; dup {
				return bad("instance[%d] (%s): fuse mount point %s already used by instance[%d]", i, p, mp, j)
			}
			fuseAt[mp] = i
		} else if in.FuseKernelCache {
			return bad("instance[%d] (%s): fuse_kernel_cache without fuse", i, p)
		}
		for j, l := range in.Stack {
			if err := l.Validate(); err != nil {
				return bad("instance[%d] (%s) stack[%d]: %v", i, p, j, err)
			}
		}
	}
	return nil
}

// CleanMountPath checks and cleans a mount path: absolute, no NUL, at most
// wire.MountPathMax bytes once cleaned.
func CleanMountPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("mount path %q is not absolute", p)
	}
	if strings.IndexByte(p, 0) >= 0 {
		return "", fmt.Errorf("mount path contains a NUL byte")
	}
	c := path.Clean(p)
	if len(c) > wire.MountPathMax {
		return "", fmt.Errorf("mount path of %d bytes (at most %d)", len(c), wire.MountPathMax)
	}
	return c, nil
}
