package systems

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"polytropon/fs/preload"
	"polytropon/fs/service"
	"polytropon/fs/stack"
)

// The service configuration of a D pool: one instance per container, its
// stack, its FUSE mount, and the container's ways in.

// userlevelConfig builds the service configuration of D's options o and
// the containers, for system (D, F, FP or D-ceph, in messages). The
// containers' writable branches are branches/c<i>/upper, which the caller
// made (in the pool's own filesystem, userlevelBranches); with branches ""
// they are made here, in the run's directory req.WorkDir.
func userlevelConfig(system, poolName, lib string, o *UserlevelOptions, req Request, branches string) (service.Config, []Container, error) {
	cfg := o.serviceConfig(poolName)
	bad := func(format string, args ...any) (service.Config, []Container, error) {
		return cfg, nil, fmt.Errorf("systems: %s: %s", system, fmt.Sprintf(format, args...))
	}
	ten := req.Tenants
	if ten != nil {
		if err := ten.check(req.Containers); err != nil {
			return bad("%v", err)
		}
	}
	// The default stack is the papers' single-host D: the user-level cache
	// over the union over local branches opened with O_DIRECT, so D keeps
	// no kernel page cache and flushes on the pool's own cores.
	useCache, cacheSet := o.useCache(ten != nil), o.CacheLayer != (stack.CacheOptions{})
	switch {
	case cacheSet && !useCache && ten == nil:
		return bad("cache_* options without cache = true")
	case ten != nil && (useCache || cacheSet):
		return bad("the tenants ([tenants]) get the pool's shared cache; leave out options cache and cache_*")
	case ten != nil && req.Lower != "":
		return bad("tenants ([tenants]) with a shared lower image are not supported")
	}
	lower, err := lowerDir(system, req)
	if err != nil {
		return cfg, nil, err
	}
	var containers []Container
	for i := 0; i < req.Containers; i++ {
		upper, mnt := branchDir(req.WorkDir, i), filepath.Join(req.WorkDir, fmt.Sprintf("c%d", i), "root")
		mkdirs := []string{mnt}
		if branches != "" {
			upper = branchDir(branches, i)
		} else {
			mkdirs = append(mkdirs, upper)
		}
		for _, d := range mkdirs {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return bad("%v", err)
			}
		}
		var top stack.Layer
		if lower != "" {
			top = stack.Layer{Type: "union", Branches: []stack.Layer{
				{Type: "local", Dir: upper, ODirect: o.ODirect},
				{Type: "local", Dir: lower, ReadOnly: true, Shared: "image", ODirect: o.ODirect},
			}}
		} else {
			top = stack.Layer{Type: "local", Dir: upper, ODirect: o.ODirect}
		}
		layers := []stack.Layer{top}
		switch {
		case useCache && lower != "":
			layers = o.clientCachedUnion(i, req.Containers, upper, lower)
		case useCache:
			layers = append([]stack.Layer{{Type: "cache", Cache: new(o.CacheLayer)}}, layers...)
		}
		if ten != nil {
			layers = ten.stack(poolName, i, upper)
		}
		// The mount path is a real host directory, and the service
		// mounts the instance on it with FUSE inside the pool: the kernel
		// (exec, mmap, programs without the library) and the library see
		// the same files at the same path.
		cfg.Instances = append(cfg.Instances, service.InstanceConfig{Path: mnt, Share: true, Stack: layers,
			Fuse: service.FuseTarget{AtPath: o.Fuse}, FuseKernelCache: o.Fuse && o.FuseKernelCache})
		containers = append(containers, Container{
			Dir: mnt,
			// POLYTROPON_MOUNTS: should the service be unusable, the
			// container's calls under its mount fail (ENOTCONN) rather
			// than write to the bare host directory (docs/preload.md).
			ProcEnv: append(preload.Env(lib, 0, poolName), preload.MountsEnv([]string{mnt})),
			FS:      FSSpec{Kind: ClientKind, Options: map[string]string{"pool": poolName, "root": mnt}},
		})
	}
	if ten != nil {
		ten.dispatch(&cfg)
	}
	// MOUNT requests of the pool's processes (a clone of a container's
	// instance over a fresh writable directory) may use the pool's own
	// directory, nothing else of the host.
	cfg.MountDirs = []string{req.WorkDir}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return bad("%v", err)
	}
	return cfg, containers, nil
}

// branchDir is container i's writable branch under dir.
func branchDir(dir string, i int) string {
	return filepath.Join(dir, fmt.Sprintf("c%d", i), "upper")
}

// userlevelBranches gives D's and F's pool its own ext4 filesystem of size
// bytes (loop_ext4.go; none when size is 0) with every container's
// writable branch made in it, and returns where they are for
// userlevelConfig ("" without one). The image is the instance's to tear
// down, also when this fails.
func userlevelBranches(ctx context.Context, in *userlevelInstance, req Request, size int64) (string, error) {
	if size <= 0 {
		return "", nil
	}
	img, err := makeLoopExt4(ctx, in.pool, req.WorkDir, size, true, "")
	in.img = img
	if err != nil {
		return "", fmt.Errorf("the pool's ext4 image (option ext4_image_size): %w", err)
	}
	dirs := make([]string, req.Containers)
	for i := range dirs {
		dirs[i] = branchDir(img.mnt, i)
	}
	if err := poolCmd(ctx, in.pool, append([]string{"mkdir", "-p"}, dirs...)...); err != nil {
		return "", err
	}
	return img.mnt, nil
}
