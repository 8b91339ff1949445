package workloads

// A program as a container image holds it (fig 8's lighttpd): the binary,
// the dynamic loader it names, the libraries the loader resolves for it and
// for its modules, and the modules, copied from the host's install at the
// paths the host has them. A clone runs it from its own root with the
// image's loader and libraries, so the kernel reads the program text and
// maps the libraries through the clone's filesystem (for D: its FUSE
// legacy mount; exec and mmap cannot go through the preload library), and
// a check of the started process's mappings proves it.

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	pfs "polytropon/fs"
)

// programImage is a dynamically linked program and the host files an
// image of it needs. Paths are the host's, absolute; in an image each file
// sits at the same path below the image's root.
type programImage struct {
	binary  string   // the program (/usr/sbin/lighttpd)
	interp  string   // its dynamic loader (PT_INTERP: /lib64/ld-linux-x86-64.so.2)
	modules string   // the directory of its modules (/usr/lib/lighttpd), "" for none
	files   []string // every file to copy: binary, loader, libraries, modules
	libDirs []string // the libraries' directories, in the order the loader found them
}

// resolveImage lists binary's image: its loader (from its ELF header), the
// modules in modules (all *.so; "" or a missing directory: none), and the
// libraries that the loader resolves for the binary and each module
// (`<loader> --list`, what ldd prints).
func resolveImage(ctx context.Context, binary, modules string) (*programImage, error) {
	interp, err := elfInterp(binary)
	if err != nil {
		return nil, err
	}
	im := &programImage{binary: binary, interp: interp, files: []string{binary, interp}}
	objects := []string{binary}
	if modules != "" {
		mods, _ := filepath.Glob(filepath.Join(modules, "*.so"))
		if len(mods) > 0 {
			im.modules = modules
			im.files = append(im.files, mods...)
			objects = append(objects, mods...)
		}
	}
	for _, obj := range objects {
		libs, err := loaderList(ctx, interp, obj)
		if err != nil {
			return nil, err
		}
		for _, lib := range libs {
			if !slices.Contains(im.files, lib) {
				im.files = append(im.files, lib)
			}
			if d := filepath.Dir(lib); lib != interp && !slices.Contains(im.libDirs, d) {
				im.libDirs = append(im.libDirs, d)
			}
		}
	}
	return im, nil
}

// elfInterp is the dynamic loader an ELF executable names.
func elfInterp(binary string) (string, error) {
	f, err := elf.Open(binary)
	if err != nil {
		return "", fmt.Errorf("workloads: reading %s's ELF header: %w", binary, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b, err := io.ReadAll(p.Open())
		if err != nil {
			return "", fmt.Errorf("workloads: reading %s's loader: %w", binary, err)
		}
		interp := filepath.Clean(string(bytes.TrimRight(b, "\x00")))
		if !filepath.IsAbs(interp) {
			return "", fmt.Errorf("workloads: %s names a relative loader %q", binary, interp)
		}
		return interp, nil
	}
	return "", fmt.Errorf("workloads: %s is statically linked (no loader to run from an image)", binary)
}

// loaderList runs `<interp> --list obj` and returns the absolute paths it
// resolves (the libraries, and the loader itself); a library it cannot
// find is an error.
func loaderList(ctx context.Context, interp, obj string) ([]string, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, interp, "--list", obj)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("workloads: %s --list %s: %w: %s", interp, obj, err, tail(stderr.Bytes(), 400))
	}
	return parseLoaderList(obj, out)
}

// parseLoaderList reads the loader's list of obj's dependencies:
//
//	linux-vdso.so.1 (0x00007ffd...)               (no file: skipped)
//	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)
//	/lib64/ld-linux-x86-64.so.2 (0x...)
//	libfoo.so.1 => not found                       (an error)
func parseLoaderList(obj string, out []byte) ([]string, error) {
	var paths, missing []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if name, target, ok := strings.Cut(line, " => "); ok {
			if strings.HasPrefix(target, "not found") {
				missing = append(missing, name)
				continue
			}
			line = target
		}
		p, _, _ := strings.Cut(line, " (")
		if filepath.IsAbs(p) {
			paths = append(paths, filepath.Clean(p))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("workloads: the loader finds no %s for %s", strings.Join(missing, ", "), obj)
	}
	return paths, nil
}

// install copies the image's files into fsys below root (a name of fsys),
// each at its host path with its host permissions. A file already there
// with the host file's size is kept: a clone over a shared image that
// holds it copies nothing.
func (im *programImage) install(ctx context.Context, fsys pfs.Service, root string) error {
	for _, src := range im.files {
		st, err := os.Stat(src)
		if err != nil {
			return fmt.Errorf("workloads: image of %s: %w", im.binary, err)
		}
		dst := path.Join(root, src)
		if have, err := fsys.Stat(ctx, dst); err == nil && have.IsRegular() && have.Size == st.Size() {
			continue
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return fmt.Errorf("workloads: image of %s: %w", im.binary, err)
		}
		if err := putFile(ctx, fsys, dst, data, uint32(st.Mode().Perm())); err != nil {
			return fmt.Errorf("workloads: image of %s: %s: %w", im.binary, dst, err)
		}
	}
	return nil
}

// putFile makes name a file with data and permissions perm, creating its
// directories; an existing file with data's size is kept.
func putFile(ctx context.Context, fsys pfs.Service, name string, data []byte, perm uint32) error {
	if have, err := fsys.Stat(ctx, name); err == nil && have.IsRegular() && have.Size == int64(len(data)) {
		return nil
	}
	dir, _ := pfs.Split(pfs.Clean(name))
	if err := mkdirAll(ctx, fsys, dir); err != nil {
		return err
	}
	if err := writeFile(ctx, fsys, name, int64(len(data)), data); err != nil {
		return err
	}
	return fsys.Chmod(ctx, name, perm)
}

// command is how to run the program of the image at root (as the kernel
// sees it) with its own loader and libraries: the loader's path and its
// arguments up to the program's; the program's own arguments follow.
// --inhibit-cache keeps the host's /etc/ld.so.cache out.
func (im *programImage) command(root string) (string, []string) {
	dirs := make([]string, len(im.libDirs))
	for i, d := range im.libDirs {
		dirs[i] = filepath.Join(root, d)
	}
	return filepath.Join(root, im.interp), []string{"--inhibit-cache", "--library-path", strings.Join(dirs, ":"), filepath.Join(root, im.binary)}
}

// imageText checks where the running process pid got its program text: every
// executable file mapping (/proc/<pid>/maps) must lie below root or be one
// of allowed (the preload library), and the image's binary and loader must
// be among them. It returns how many distinct files below root are mapped
// executable.
func (im *programImage) imageText(pid int, root string, allowed []string) (int, error) {
	maps, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return 0, err
	}
	roots := []string{filepath.Clean(root)}
	if r, err := filepath.EvalSymlinks(root); err == nil && r != roots[0] {
		roots = append(roots, r)
	}
	under := func(p string) bool {
		return slices.ContainsFunc(roots, func(r string) bool { return strings.HasPrefix(p, r+"/") })
	}
	var inImage, outside []string
	for _, p := range executableMappings(maps) {
		switch {
		case under(p):
			if !slices.Contains(inImage, p) {
				inImage = append(inImage, p)
			}
		case slices.Contains(allowed, p):
		case !slices.Contains(outside, p):
			outside = append(outside, p)
		}
	}
	if len(outside) > 0 {
		return len(inImage), fmt.Errorf("program text mapped from outside the container's root %s: %s", root, strings.Join(outside, ", "))
	}
	for _, want := range []string{im.binary, im.interp} {
		if !slices.ContainsFunc(roots, func(r string) bool { return slices.Contains(inImage, filepath.Join(r, want)) }) {
			return len(inImage), fmt.Errorf("the image's %s below %s is not mapped (mapped there: %s)", want, root, strings.Join(inImage, ", "))
		}
	}
	return len(inImage), nil
}

// executableMappings are the paths of the file mappings with execute
// permission in a /proc/<pid>/maps text:
//
//	7f...-7f... r-xp 00002000 00:2e 1234   /path/to/lib.so
func executableMappings(maps []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !strings.Contains(f[1], "x") || !strings.HasPrefix(f[5], "/") {
			continue
		}
		// The path is the rest of the line (it may hold spaces).
		_, p, _ := strings.Cut(sc.Text(), " /")
		out = append(out, "/"+strings.TrimSuffix(p, " (deleted)"))
	}
	return out
}

// preloadFiles are the libraries named by LD_PRELOAD in env ("K=V"), with
// their symbolic links resolved as the kernel names mappings.
func preloadFiles(env []string) []string {
	var out []string
	for _, kv := range env {
		v, ok := strings.CutPrefix(kv, "LD_PRELOAD=")
		if !ok {
			continue
		}
		for _, p := range strings.FieldsFunc(v, func(r rune) bool { return r == ':' || r == ' ' }) {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			out = append(out, p)
		}
	}
	return out
}
