package systems

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// K/K is the kernel union baseline: one kernel overlayfs per container over
// a lower image shared by all containers of the pool, on the same ext4 loop
// mount as K (the paper's K/K is AUFS over kernel CephFS; AUFS is not in
// mainline, overlayfs is its in-kernel counterpart). The lower image is the
// request's Lower directory copied once into the pool's ext4 filesystem, so
// every clone reads one cached copy through the kernel page cache; each
// container has its private upperdir and workdir.
//
// Options are K's (dir, size, mount_options); in dir mode the overlays use
// Lower in place as lowerdir.
func init() { Register(&kernelSystem{name: "K/K", overlay: true}) }

// setupOverlays builds the shared lower image under base and mounts one
// overlay per container.
//
// Preconditions: in.mu is held; base exists (as the pool sees it).
func (in *kernelInstance) setupOverlays(ctx context.Context, req Request, base string) error {
	lower := filepath.Join(base, "image")
	if in.opts.Dir != "" && req.Lower != "" {
		lower = req.Lower // already a host directory the pool sees
	}
	dirs := []string{lower}
	type layer struct{ upper, work, root string }
	layers := make([]layer, req.Containers)
	for i := range layers {
		c := filepath.Join(base, "c"+strconv.Itoa(i))
		layers[i] = layer{filepath.Join(c, "upper"), filepath.Join(c, "work"), filepath.Join(c, "root")}
		dirs = append(dirs, layers[i].upper, layers[i].work, layers[i].root)
	}
	if err := poolCmd(ctx, in.pool, append([]string{"mkdir", "-p"}, dirs...)...); err != nil {
		return err
	}
	if req.Lower != "" && lower != req.Lower {
		if st, err := os.Stat(req.Lower); err != nil || !st.IsDir() {
			return fmt.Errorf("lower image %q is not a directory", req.Lower)
		}
		if err := poolCmd(ctx, in.pool, "cp", "-a", "--", req.Lower+"/.", lower); err != nil {
			return fmt.Errorf("copying the lower image into the pool's filesystem: %w", err)
		}
	}
	for _, l := range layers {
		for _, p := range []string{lower, l.upper, l.work} {
			if strings.ContainsAny(p, ",:") {
				return fmt.Errorf("overlay path %q contains ',' or ':', which overlayfs options cannot carry", p)
			}
		}
		opts := "lowerdir=" + lower + ",upperdir=" + l.upper + ",workdir=" + l.work
		in.mounts = append(in.mounts, l.root)
		if err := poolCmd(ctx, in.pool, "mount", "-t", "overlay", "overlay", "-o", opts, l.root); err != nil {
			return err
		}
		in.containers = append(in.containers, Container{Dir: l.root, FS: FSSpec{Kind: HostKind}})
	}
	return nil
}
