// Package layering holds the floors of the project and the rules that keep
// them: a folder is a floor, and nothing imports a floor above its own.
// Its test (layering_test.go) reads every Go file of the module — test
// files and files behind build tags included — and fails on any import
// that breaks a rule; docs/architecture.md draws the same floors.
//
// The floors, bottom first (a package may import its own floor and any
// floor below):
//
//	internal/       tiny shared helpers (units, testenv) and this check
//	ipc/            shared memory, then the queues and copies over it
//	fs/             the libservice API, the libservices, the stack builder,
//	                the filesystem protocol and its ends, the service, the
//	                client, the preload library, the FUSE bridge
//	results/        run storage, statistics, plots, compare
//	workloads/      the workloads
//	systems/        the systems under test
//	runner/         pools, collectors, experiment config, orchestration,
//	                the bake-off drivers
//	cmd/            the polytropon command
//
// Within ipc/, fs/ and runner/ the packages have floors of their own (see
// Floors).
package layering

import (
	"fmt"
	"path"
	"strings"
)

// Module is the module path of the project.
const Module = "polytropon"

// Floor is a named set of packages (module-relative paths; "dir/..." is
// dir and everything below it).
type Floor struct {
	Name     string
	Packages []string
}

// Floors are the project's floors, bottom first.
var Floors = []Floor{
	{"internal helpers", []string{"internal/..."}},
	{"ipc: shared memory", []string{"ipc/shm"}},
	{"ipc: queues and copies", []string{"ipc/queue", "ipc/copy"}},
	{"fs: the libservice API", []string{"fs", "fs/mountinfo"}},
	{"fs: libservices and their conformance suite", []string{"fs/fstest", "fs/local", "fs/union", "fs/cache", "fs/cephfs", "fs/hostfs"}},
	{"fs: stack builder, wire format, FUSE bridge", []string{"fs/stack", "fs/wire/...", "fs/fuse"}},
	{"fs: protocol ends", []string{"fs/front", "fs/back"}},
	{"fs: service and client", []string{"fs/service/...", "fs/client"}},
	{"fs: preload library", []string{"fs/preload"}},
	{"results", []string{"results/..."}},
	{"workloads", []string{"workloads/..."}},
	{"systems", []string{"systems/..."}},
	{"runner: pools", []string{"runner/pool"}},
	{"runner: collectors", []string{"runner/metrics"}},
	{"runner: experiment config", []string{"runner/config"}},
	{"runner: orchestration and bake-offs", []string{"runner", "runner/ipcbench", "runner/cachebench", "runner/ab"}},
	{"runner: reproduction of the papers (claims, report)", []string{"runner/reproduce"}},
	{"cmd", []string{"cmd/..."}},
}

// TestImport is an import a test file may make of a higher floor, for a
// real collaborator that the lower floor takes as an interface.
type TestImport struct {
	From, To string // module-relative package paths
	Why      string
}

// TestImports are the allowed test-only imports of a higher floor.
var TestImports = []TestImport{
	{"systems", "runner/pool", "systems take a Pool; their tests set them up in real pools, which runner/pool provisions"},
}

// Restricted are third-party imports only some packages may make.
var Restricted = []struct {
	Import string   // import path prefix
	Only   []string // module-relative packages allowed to import it
	Why    string
}{
	{"gonum.org/v1/plot", []string{"results"}, "plots are drawn by results only"},
	{"github.com/ceph/go-ceph", []string{"fs/cephfs"}, "the Ceph client is one libservice, behind its build tag"},
}

// File is what the check needs of one Go file.
type File struct {
	Path    string   // module-relative file path
	Pkg     string   // module-relative package path ("" for the root)
	Test    bool     // a _test.go file
	Imports []string // import paths
}

// Check returns one error per broken rule in files, with floors and the
// allowed test imports given.
func Check(files []File, floors []Floor, tests []TestImport) []error {
	var errs []error
	floorOf := func(pkg string) int {
		best, bestLen := -1, -1
		for i, f := range floors {
			for _, p := range f.Packages {
				base, all := strings.CutSuffix(p, "/...")
				if pkg == base || all && strings.HasPrefix(pkg, base+"/") {
					if len(base) > bestLen {
						best, bestLen = i, len(base)
					}
				}
			}
		}
		return best
	}
	allowed := func(from, to string) bool {
		for _, ti := range tests {
			if ti.From == from && ti.To == to {
				return true
			}
		}
		return false
	}
	for _, f := range files {
		from := floorOf(f.Pkg)
		if from < 0 {
			errs = append(errs, fmt.Errorf("%s: package %q is on no floor (add it to layering.Floors)", f.Path, f.Pkg))
			continue
		}
		for _, imp := range f.Imports {
			if imp == "unsafe" && !strings.HasSuffix(strings.TrimSuffix(path.Base(f.Path), "_test.go"), "_unsafe") &&
				!strings.HasSuffix(f.Path, "_unsafe.go") {
				errs = append(errs, fmt.Errorf("%s: imports unsafe outside a *_unsafe.go file", f.Path))
			}
			for _, r := range Restricted {
				if (imp == r.Import || strings.HasPrefix(imp, r.Import+"/")) && !inList(f.Pkg, r.Only) {
					errs = append(errs, fmt.Errorf("%s: imports %s, which only %v may (%s)", f.Path, imp, r.Only, r.Why))
				}
			}
			rel, ok := strings.CutPrefix(imp, Module+"/")
			if !ok {
				continue
			}
			to := floorOf(rel)
			switch {
			case to < 0:
				errs = append(errs, fmt.Errorf("%s: imports %s, which is on no floor", f.Path, imp))
			case to > from && !(f.Test && allowed(f.Pkg, rel)):
				errs = append(errs, fmt.Errorf("%s: package %s (floor %q) imports %s (floor %q), which is above it",
					f.Path, f.Pkg, floors[from].Name, rel, floors[to].Name))
			}
		}
	}
	return errs
}

func inList(pkg string, list []string) bool {
	for _, p := range list {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}
