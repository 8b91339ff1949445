package systems

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"polytropon/fs/preload"
	"polytropon/fs/service"
	"polytropon/fs/stack"
	"polytropon/internal/units"
)

// The service configuration of a D pool: one instance per container, its
// stack, its FUSE mount, and the container's ways in.

// userlevelConfig builds the service configuration and the containers.
func userlevelConfig(poolName, lib string, req Request) (service.Config, []Container, error) {
	o := req.Options
	cfg := service.Config{Pool: poolName, Design: o["design"], Wait: o["wait"], Copy: o["copy"], Pin: true}
	if v := o["buffer_size"]; v != "" {
		n, err := units.ParseSize(v)
		if err != nil {
			return cfg, nil, fmt.Errorf("systems: D: option buffer_size: %w", err)
		}
		cfg.BufferSize = n
	}
	for k, dst := range map[string]*int{"buffers": &cfg.Buffers, "queues": &cfg.Queues} {
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
			settings, err := cacheSettings(cacheOpts)
			if err != nil {
				return cfg, nil, err
			}
			layers = append([]stack.Layer{{Type: "cache", Cache: settings}}, layers...)
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

// cacheSettings reads D's cache_<setting> options into the cache layer's
// typed settings, strictly: a string becomes a TOML string unless the
// setting is a boolean or an integer.
func cacheSettings(opts map[string]string) (*stack.CacheOptions, error) {
	kinds := map[string]reflect.Kind{}
	t := reflect.TypeFor[stack.CacheOptions]()
	for i := range t.NumField() {
		f := t.Field(i)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		kinds[strings.Split(f.Tag.Get("toml"), ",")[0]] = ft.Kind()
	}
	var doc strings.Builder
	for k, v := range opts {
		switch kinds[k] {
		case reflect.Bool, reflect.Int:
			fmt.Fprintf(&doc, "%s = %s\n", k, v)
		default:
			fmt.Fprintf(&doc, "%s = %s\n", k, strconv.Quote(v))
		}
	}
	var s stack.CacheOptions
	md, err := toml.Decode(doc.String(), &s)
	if err == nil && len(md.Undecoded()) > 0 {
		err = fmt.Errorf("unknown cache setting %v", md.Undecoded())
	}
	if err != nil {
		return nil, fmt.Errorf("systems: D: cache_* options: %w", err)
	}
	return &s, nil
}
