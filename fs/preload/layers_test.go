package preload_test

import (
	"debug/elf"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"polytropon/fs/preload"
)

// sourceLayers assigns every file of src/ its layer (src/poly.h): a file
// may use what its own layer and the lower ones define, never a higher
// one. Layers 0 to 2 are the request protocol's own code.
var sourceLayers = map[string]int{
	"sys": 0, "rcqb": 1, "front": 2, "fdtab": 3, "path": 4,
	"io": 5, "meta": 5, "dir": 5, "stdio": 5, "process": 5, "spawn": 5, "mmap": 5,
	"fdctl": 5, "locks": 5, "copy": 5, "aio": 5, "linuxaio": 5, "syscall": 5,
}

// protocolLayers: files of layers up to this one call no entry point the
// library interposes.
const protocolLayers = 2

// upcalls are the uses of a higher layer that the layering allows, as
// "file symbol".
var upcalls = map[string]string{}

// TestLayers reads the object files the Makefile built (obj/*.o) and checks
// that the library's internal calls respect the layers of src/poly.h: the
// raw system calls, the queue and the front driver use no entry point the
// library exports (a call to syscall() from rcqb.c, say, would go through
// the library's own syscall interposer), and no file uses a higher layer
// except for the upcalls listed above.
func TestLayers(t *testing.T) {
	if os.Getenv("POLYTROPON_PRELOAD") != "" {
		t.Skip("POLYTROPON_PRELOAD names a prebuilt library: no objects to read")
	}
	dir, err := preload.Dir()
	if err != nil {
		t.Fatal(err)
	}
	srcs, err := filepath.Glob(filepath.Join(dir, "src", "*.c"))
	if err != nil || len(srcs) == 0 {
		t.Fatalf("no sources in %s/src (%v)", dir, err)
	}
	definedIn := map[string]string{} // symbol -> file
	exported := map[string]bool{}    // symbols of the library's interface
	uses := map[string][]string{}    // file -> symbols it needs from elsewhere
	for _, src := range srcs {
		file := strings.TrimSuffix(filepath.Base(src), ".c")
		if _, ok := sourceLayers[file]; !ok {
			t.Errorf("src/%s.c has no layer in sourceLayers", file)
			continue
		}
		syms := objectSymbols(t, filepath.Join(dir, "obj", file+".o"))
		for _, s := range syms {
			bind := elf.ST_BIND(s.Info)
			switch {
			case s.Section == elf.SHN_UNDEF && s.Name != "":
				uses[file] = append(uses[file], s.Name)
			case bind == elf.STB_GLOBAL || bind == elf.STB_WEAK:
				definedIn[s.Name] = file
				if elf.ST_VISIBILITY(s.Other) == elf.STV_DEFAULT {
					exported[s.Name] = true
				}
			}
		}
	}
	if !exported["syscall"] || !exported["open"] || len(uses["front"]) == 0 {
		t.Fatalf("implausible symbol tables: syscall exported %v, open exported %v, front.o uses %v",
			exported["syscall"], exported["open"], uses["front"])
	}
	files := make([]string, 0, len(uses))
	for f := range uses {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		for _, sym := range uses[f] {
			owner, ours := definedIn[sym]
			if !ours {
				continue // libc and friends
			}
			switch {
			case sourceLayers[f] <= protocolLayers && exported[sym]:
				t.Errorf("src/%s.c calls %s, an entry point the library interposes: the call would run through the interposer (src/%s.c); use the real call (poly_sys, REAL)", f, sym, owner)
			case sourceLayers[owner] > sourceLayers[f] && upcalls[f+" "+sym] == "":
				t.Errorf("src/%s.c (layer %d) uses %s of src/%s.c (layer %d), a higher layer", f, sourceLayers[f], sym, owner, sourceLayers[owner])
			}
		}
	}
}

// objectSymbols returns the symbol table of an object file.
func objectSymbols(t *testing.T, path string) []elf.Symbol {
	t.Helper()
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("%v (make -C fs/preload builds the objects)", err)
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return syms
}
