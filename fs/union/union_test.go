package union_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/union"
	"polytropon/internal/testenv"
)

// env is one union over local branches in host temp directories: dirs[0]
// is the upper branch, the others are seeded by the test and checked
// unchanged when it ends.
type env struct {
	t    *testing.T
	ctx  context.Context
	dirs []string
	brs  []fs.Service
	u    *union.Union
}

// newEnv creates n branch directories, lets seed fill the lower ones (index
// 1..n-1) with plain os calls, and builds the union. wrap, if set, may
// replace branch services before the union is built.
func newEnv(t *testing.T, n int, seed func(dirs []string), wrap func(i int, s fs.Service) fs.Service, opts ...union.Option) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context()}
	for range n {
		e.dirs = append(e.dirs, t.TempDir())
	}
	if seed != nil {
		seed(e.dirs)
	}
	for i, d := range e.dirs {
		var s fs.Service
		if i == 0 {
			s = newLocal(t, d)
		} else {
			s = newLower(t, d)
		}
		if wrap != nil {
			s = wrap(i, s)
		}
		e.brs = append(e.brs, s)
		if i > 0 {
			checkTreeUnchanged(t, d)
		}
	}
	u, err := union.New(e.brs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.u = u
	return e
}

func (e *env) upper(name string) string { return filepath.Join(e.dirs[0], name) }
func (e *env) lower(name string) string { return filepath.Join(e.dirs[1], name) }

func (e *env) read(name string) string {
	e.t.Helper()
	f, err := e.u.Open(e.ctx, name, unix.O_RDONLY, 0)
	if err != nil {
		e.t.Fatalf("open %s: %v", name, err)
	}
	defer f.Close()
	var out []byte
	buf := make([]byte, 1<<20)
	for off := int64(0); ; {
		n, err := f.Pread(buf, off)
		if err != nil {
			e.t.Fatalf("pread %s: %v", name, err)
		}
		if n == 0 {
			return string(out)
		}
		out = append(out, buf[:n]...)
		off += int64(n)
	}
}

func (e *env) write(name string, flags int, data string) {
	e.t.Helper()
	f, err := e.u.Open(e.ctx, name, flags, 0o644)
	if err != nil {
		e.t.Fatalf("open %s for write: %v", name, err)
	}
	if data != "" {
		if _, err := f.Pwrite([]byte(data), 0); err != nil {
			e.t.Fatalf("pwrite %s: %v", name, err)
		}
	}
	if err := f.Close(); err != nil {
		e.t.Fatalf("close %s: %v", name, err)
	}
}

func (e *env) list(name string) []string {
	e.t.Helper()
	d, err := e.u.OpenDir(e.ctx, name)
	if err != nil {
		e.t.Fatalf("opendir %s: %v", name, err)
	}
	defer d.Close()
	ents, err := d.ReadDir(0)
	if err != nil {
		e.t.Fatalf("readdir %s: %v", name, err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name)
	}
	sort.Strings(names)
	return names
}

func (e *env) wantErrno(err error, want syscall.Errno, what string) {
	e.t.Helper()
	if got := fs.Errno(err); got != want {
		e.t.Errorf("%s: got errno %v (%v), want %v", what, got, err, want)
	}
}

func (e *env) exists(host string) bool {
	_, err := os.Lstat(host)
	return err == nil
}

// hostNames lists a host directory, sorted.
func hostNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range ents {
		names = append(names, de.Name())
	}
	return names
}

// noTemporaries fails if any copy-up or removal temporary is left in the
// upper branch.
func (e *env) noTemporaries() {
	e.t.Helper()
	filepath.WalkDir(e.dirs[0], func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".wh..wh.tmp.") {
			e.t.Errorf("temporary left in upper branch: %s", p)
		}
		return nil
	})
}

func writeHost(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(path), 0o755))
	must(t, os.WriteFile(path, []byte(data), mode))
	must(t, os.Chmod(path, mode))
}

var (
	oldTime  = time.Date(2001, 2, 3, 4, 5, 6, 789, time.UTC)
	oldTime2 = time.Date(1999, 1, 1, 0, 0, 0, 123456789, time.UTC)
)

// requireRoot skips a test that must chown files to arbitrary owners.
func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "the test chowns lower files to arbitrary owners")
}

// seedAttrFile writes a lower file with distinctive mode, owner and times.
func seedAttrFile(t *testing.T, path, data string) {
	requireRoot(t)
	writeHost(t, path, data, 0o640)
	must(t, os.Lchown(path, 1234, 5678))
	must(t, os.Chtimes(path, oldTime2, oldTime))
}

func hostStat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	return st
}

// sameAttrs compares mode, owner, atime and mtime of a host path with the
// attributes want (taken before the copy-up read the lower file, which may
// move its atime).
func sameAttrs(t *testing.T, got string, w unix.Stat_t) {
	t.Helper()
	g := hostStat(t, got)
	if g.Mode != w.Mode || g.Uid != w.Uid || g.Gid != w.Gid {
		t.Errorf("%s: mode/uid/gid got %o/%d/%d, want %o/%d/%d", got, g.Mode, g.Uid, g.Gid, w.Mode, w.Uid, w.Gid)
	}
	if g.Mtim != w.Mtim {
		t.Errorf("%s: mtime got %v, want %v", got, g.Mtim, w.Mtim)
	}
	if g.Mode&unix.S_IFMT != unix.S_IFDIR && g.Atim != w.Atim {
		t.Errorf("%s: atime got %v, want %v", got, g.Atim, w.Atim)
	}
}

func TestNewRejectsNoBranches(t *testing.T) {
	if _, err := union.New(nil); !errors.Is(err, union.ErrNoBranches) {
		t.Errorf("New(nil): got %v, want ErrNoBranches", err)
	}
	if _, err := union.New([]fs.Service{nil}); !errors.Is(err, union.ErrNoBranches) {
		t.Errorf("New([nil]): got %v, want ErrNoBranches", err)
	}
}

func TestUnwrapAndCapabilities(t *testing.T) {
	e := newEnv(t, 2, nil, nil)
	var s fs.Service = e.u
	w, ok := s.(fs.Unwrapper)
	if !ok {
		t.Fatal("union does not implement fs.Unwrapper")
	}
	if got := w.Unwrap(); len(got) != 2 || got[0] != e.brs[0] || got[1] != e.brs[1] {
		t.Errorf("Unwrap: got %v, want the two branches in order", got)
	}
	for i, b := range e.brs {
		if _, ok := b.(fs.Xattrer); ok {
			if _, ok := s.(fs.Xattrer); !ok {
				t.Errorf("branch %d is an fs.Xattrer but the union is not", i)
			}
		}
		if _, ok := b.(fs.Flusher); ok {
			if _, ok := s.(fs.Flusher); !ok {
				t.Errorf("branch %d is an fs.Flusher but the union is not", i)
			}
		}
	}
}

// TestWarmLookupsCostOneBranchCall checks the union's overhead by structure
// rather than by timing: once its cache is warm, a stat or a read-only open
// of a lower file costs exactly one call on the lower branch and none on the
// upper one, and an upper file costs one call on the upper branch.
func TestWarmLookupsCostOneBranchCall(t *testing.T) {
	var counters []*countingService
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "usr", "lib", "f"), "lower", 0o644)
		writeHost(t, filepath.Join(d[0], "usr", "lib", "up"), "upper", 0o644)
	}, func(i int, s fs.Service) fs.Service {
		c := &countingService{Service: s}
		counters = append(counters, c)
		return c
	})
	calls := []struct {
		name string
		fn   func() error
		want [2]map[string]int
	}{
		{"stat_lower", func() error { _, err := e.u.Stat(e.ctx, "usr/lib/f"); return err },
			[2]map[string]int{nil, {"lstat": 1}}},
		{"lstat_lower", func() error { _, err := e.u.Lstat(e.ctx, "usr/lib/f"); return err },
			[2]map[string]int{nil, {"lstat": 1}}},
		{"open_lower", func() error { return closeOpenName(e, "usr/lib/f", unix.O_RDONLY) },
			[2]map[string]int{nil, {"open": 1}}},
		{"stat_upper", func() error { _, err := e.u.Stat(e.ctx, "usr/lib/up"); return err },
			[2]map[string]int{{"lstat": 1}, nil}},
		{"open_upper", func() error { return closeOpenName(e, "usr/lib/up", unix.O_RDONLY) },
			[2]map[string]int{{"open": 1}, nil}},
		{"stat_missing", func() error {
			_, err := e.u.Stat(e.ctx, "usr/lib/missing")
			if fs.Errno(err) == syscall.ENOENT {
				return nil
			}
			return err
		}, [2]map[string]int{nil, {"lstat": 1}}},
	}
	for _, c := range calls {
		must(t, c.fn()) // warms the cache
		for _, cs := range counters {
			cs.reset()
		}
		must(t, c.fn())
		for i, cs := range counters {
			if got := cs.reset(); !maps.Equal(got, c.want[i]) {
				t.Errorf("%s: branch %d got calls %v, want %v", c.name, i, got, c.want[i])
			}
		}
	}
}
