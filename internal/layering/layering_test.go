package layering

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestFloors: no file of the module breaks a rule.
func TestFloors(t *testing.T) {
	files := moduleFiles(t, "../..")
	if len(files) < 100 {
		t.Fatalf("read only %d Go files; is the module root ../..?", len(files))
	}
	for _, err := range Check(files, Floors, TestImports) {
		t.Error(err)
	}
}

// TestCheckCatchesBreaks: the check fails on each kind of broken rule and
// passes what the rules allow.
func TestCheckCatchesBreaks(t *testing.T) {
	imp := func(file, pkg string, imports ...string) File {
		return File{Path: file, Pkg: pkg, Test: strings.HasSuffix(file, "_test.go"), Imports: imports}
	}
	for _, c := range []struct {
		name  string
		file  File
		wants string // substring of the one error; "" for none
	}{
		{"upward", imp("ipc/queue/q.go", "ipc/queue", "polytropon/fs"), "which is above it"},
		{"fs imports the harness", imp("fs/cache/x.go", "fs/cache", "polytropon/runner/config"), "which is above it"},
		{"systems imports runner", imp("systems/x.go", "systems", "polytropon/runner/pool"), "which is above it"},
		{"within fs, upward", imp("fs/local/x.go", "fs/local", "polytropon/fs/service"), "which is above it"},
		{"allowed test import", imp("systems/x_test.go", "systems", "polytropon/runner/pool"), ""},
		{"test import not allowed", imp("systems/x_test.go", "systems", "polytropon/runner"), "which is above it"},
		{"downward", imp("runner/x.go", "runner", "polytropon/fs/local", "polytropon/ipc/shm"), ""},
		{"same floor", imp("fs/service/x.go", "fs/service", "polytropon/fs/client"), ""},
		{"gonum outside results", imp("runner/x.go", "runner", "gonum.org/v1/plot/plotter"), "only [results] may"},
		{"gonum in results", imp("results/plot.go", "results", "gonum.org/v1/plot"), ""},
		{"go-ceph outside cephfs", imp("fs/stack/x.go", "fs/stack", "github.com/ceph/go-ceph/cephfs"), "only [fs/cephfs] may"},
		{"unsafe outside _unsafe.go", imp("ipc/shm/region.go", "ipc/shm", "unsafe"), "outside a *_unsafe.go"},
		{"unsafe in _unsafe.go", imp("ipc/shm/region_unsafe.go", "ipc/shm", "unsafe"), ""},
		{"unsafe in _unsafe_test.go", imp("ipc/shm/ring_unsafe_test.go", "ipc/shm", "unsafe"), ""},
		{"package on no floor", imp("tools/x.go", "tools"), "on no floor"},
	} {
		t.Run(c.name, func(t *testing.T) {
			errs := Check([]File{c.file}, Floors, TestImports)
			switch {
			case c.wants == "" && len(errs) > 0:
				t.Errorf("got %v, want no error", errs)
			case c.wants != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), c.wants)):
				t.Errorf("got %v, want one error containing %q", errs, c.wants)
			}
		})
	}
}

// moduleFiles parses the imports of every Go file under root (testdata,
// hidden and vendor directories excluded), whatever its build tags.
func moduleFiles(t *testing.T, root string) []File {
	t.Helper()
	var files []File
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if p != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "vendor") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		pkg := filepath.ToSlash(filepath.Dir(rel))
		if pkg == "." {
			pkg = ""
		}
		file := File{Path: rel, Pkg: pkg, Test: strings.HasSuffix(name, "_test.go")}
		for _, is := range f.Imports {
			ip, _ := strconv.Unquote(is.Path.Value)
			file.Imports = append(file.Imports, ip)
		}
		files = append(files, file)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("%s is not the module root: %v", root, err)
	}
	return files
}
