package union_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/union"
)

func TestUnlinkLowerLeavesWhiteout(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "f"), "x", 0o644)
		writeHost(t, filepath.Join(d[1], "g"), "y", 0o644)
	}, nil)
	must(t, e.u.Unlink(e.ctx, "f"))
	_, err := e.u.Stat(e.ctx, "f")
	e.wantErrno(err, syscall.ENOENT, "stat after unlink")
	if !e.exists(e.upper(".wh.f")) {
		t.Error("no whiteout .wh.f in the upper branch")
	}
	if got, want := e.list(""), []string{"g"}; !slices.Equal(got, want) {
		t.Errorf("readdir: got %v, want %v", got, want)
	}
	e.wantErrno(e.u.Unlink(e.ctx, "f"), syscall.ENOENT, "second unlink")
}

func TestUnlinkCopiedUpFileRemovesCopyAndHidesLower(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "x", 0o644) }, nil)
	must(t, e.u.Chmod(e.ctx, "f", 0o600))
	must(t, e.u.Unlink(e.ctx, "f"))
	if e.exists(e.upper("f")) || !e.exists(e.upper(".wh.f")) {
		t.Errorf("upper after unlink: got %v, want only .wh.f", hostNames(t, e.dirs[0]))
	}
	_, err := e.u.Lstat(e.ctx, "f")
	e.wantErrno(err, syscall.ENOENT, "lstat after unlink")
}

func TestUnlinkUpperOnlyLeavesNoWhiteout(t *testing.T) {
	e := newEnv(t, 2, nil, nil)
	e.write("new", unix.O_WRONLY|unix.O_CREAT, "n")
	must(t, e.u.Unlink(e.ctx, "new"))
	if names := hostNames(t, e.dirs[0]); len(names) != 0 {
		t.Errorf("upper after unlinking an upper-only file: got %v, want nothing", names)
	}
}

func TestRmdirLowerLeavesWhiteout(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { must(t, os.MkdirAll(filepath.Join(d[1], "d"), 0o755)) }, nil)
	must(t, e.u.Rmdir(e.ctx, "d"))
	_, err := e.u.Stat(e.ctx, "d")
	e.wantErrno(err, syscall.ENOENT, "stat after rmdir")
	if !e.exists(e.upper(".wh.d")) {
		t.Error("no whiteout .wh.d in the upper branch")
	}
}

func TestRmdirMergedNotEmpty(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "d", "x"), "x", 0o644)
		writeHost(t, filepath.Join(d[1], "d", "y"), "y", 0o644)
	}, nil)
	// The upper copy of d is empty; the merged view is not.
	must(t, e.u.Chmod(e.ctx, "d", 0o700))
	e.wantErrno(e.u.Rmdir(e.ctx, "d"), syscall.ENOTEMPTY, "rmdir of a merged non-empty dir")
	must(t, e.u.Unlink(e.ctx, "d/x"))
	e.wantErrno(e.u.Rmdir(e.ctx, "d"), syscall.ENOTEMPTY, "rmdir with one lower entry left")
	must(t, e.u.Unlink(e.ctx, "d/y"))
	must(t, e.u.Rmdir(e.ctx, "d"))
	if got := hostNames(t, e.dirs[0]); !slices.Equal(got, []string{".wh.d"}) {
		t.Errorf("upper after rmdir: got %v, want [.wh.d]", got)
	}
	_, err := e.u.Stat(e.ctx, "d/x")
	e.wantErrno(err, syscall.ENOENT, "stat below a removed dir")
}

func TestRecreateAfterDelete(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "lower", 0o644) }, nil)
	must(t, e.u.Unlink(e.ctx, "f"))
	e.write("f", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, "again")
	if got := e.read("f"); got != "again" {
		t.Errorf("read recreated: got %q, want %q", got, "again")
	}
	if got := e.list(""); !slices.Equal(got, []string{"f"}) {
		t.Errorf("readdir: got %v, want [f]", got)
	}
	if e.exists(e.upper(".wh.f")) {
		t.Error("whiteout left next to the recreated file")
	}
	must(t, e.u.Unlink(e.ctx, "f"))
	_, err := e.u.Stat(e.ctx, "f")
	e.wantErrno(err, syscall.ENOENT, "stat after deleting the recreated file")
}

func TestMkdirOverWhiteoutIsOpaque(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "d", "old"), "x", 0o644) }, nil)
	must(t, e.u.Unlink(e.ctx, "d/old"))
	must(t, e.u.Rmdir(e.ctx, "d"))
	must(t, e.u.Mkdir(e.ctx, "d", 0o755))
	if got := e.list("d"); len(got) != 0 {
		t.Errorf("readdir of a dir recreated over a whiteout: got %v, want empty", got)
	}
	_, err := e.u.Stat(e.ctx, "d/old")
	e.wantErrno(err, syscall.ENOENT, "stat of a lower name under an opaque dir")
	if !e.exists(e.upper("d/.wh..wh..opq")) {
		t.Error("no opaque marker in the recreated dir")
	}
	if e.exists(e.upper(".wh.d")) {
		t.Error("whiteout left next to the recreated dir")
	}
	e.write("d/old", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, "new")
	if got := e.list("d"); !slices.Equal(got, []string{"old"}) {
		t.Errorf("readdir: got %v, want [old]", got)
	}
}

func TestUpperFileHidesLowerDir(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "x", "y"), "lower", 0o644)
		writeHost(t, filepath.Join(d[0], "x"), "upper file", 0o644)
	}, nil)
	st, err := e.u.Lstat(e.ctx, "x")
	must(t, err)
	if !st.IsRegular() {
		t.Errorf("x: got mode %o, want a regular file", st.Mode)
	}
	_, err = e.u.Stat(e.ctx, "x/y")
	e.wantErrno(err, syscall.ENOTDIR, "stat below an upper file")
}

func TestReaddirMergesDedupesAndHides(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		for _, n := range []string{"a", "b", "c"} {
			writeHost(t, filepath.Join(d[1], "dir", n), "lower "+n, 0o644)
		}
		must(t, os.MkdirAll(filepath.Join(d[1], "dir", "sub"), 0o755))
	}, nil)
	must(t, e.u.Chmod(e.ctx, "dir/b", 0o600)) // b now in both branches
	must(t, e.u.Unlink(e.ctx, "dir/c"))
	e.write("dir/d", unix.O_WRONLY|unix.O_CREAT, "d")
	if got, want := e.list("dir"), []string{"a", "b", "d", "sub"}; !slices.Equal(got, want) {
		t.Errorf("readdir: got %v, want %v", got, want)
	}
	d, err := e.u.OpenDir(e.ctx, "dir")
	must(t, err)
	defer d.Close()
	ents, err := d.ReadDir(0)
	must(t, err)
	for _, de := range ents {
		if de.Name == "sub" && de.Type != unix.DT_DIR {
			t.Errorf("type of sub: got %d, want DT_DIR", de.Type)
		}
	}
}

func TestReaddirStreamsLargeMergedDir(t *testing.T) {
	const lowerN, upperN, overlap = 3000, 1000, 500
	e := newEnv(t, 2, func(d []string) {
		must(t, os.MkdirAll(filepath.Join(d[1], "big"), 0o755))
		for i := range lowerN {
			must(t, os.WriteFile(filepath.Join(d[1], "big", fmt.Sprintf("f%05d", i)), nil, 0o644))
		}
	}, nil)
	want := map[string]bool{}
	for i := range lowerN {
		want[fmt.Sprintf("f%05d", i)] = true
	}
	// Copy up the last overlap lower names, delete 100 others, add new ones.
	for i := lowerN - overlap; i < lowerN; i++ {
		must(t, e.u.Chmod(e.ctx, fmt.Sprintf("big/f%05d", i), 0o600))
	}
	for i := range 100 {
		name := fmt.Sprintf("f%05d", i*7)
		must(t, e.u.Unlink(e.ctx, "big/"+name))
		delete(want, name)
	}
	for i := range upperN - overlap {
		name := fmt.Sprintf("u%05d", i)
		e.write("big/"+name, unix.O_WRONLY|unix.O_CREAT, "")
		want[name] = true
	}
	d, err := e.u.OpenDir(e.ctx, "big")
	must(t, err)
	defer d.Close()
	seen := map[string]bool{}
	for {
		ents, err := d.ReadDir(7)
		must(t, err)
		if len(ents) == 0 {
			break
		}
		if len(ents) > 7 {
			t.Fatalf("ReadDir(7) returned %d entries", len(ents))
		}
		for _, de := range ents {
			if seen[de.Name] {
				t.Errorf("%s returned twice", de.Name)
			}
			seen[de.Name] = true
		}
	}
	if len(seen) != len(want) {
		t.Errorf("got %d entries, want %d", len(seen), len(want))
	}
	for n := range want {
		if !seen[n] {
			t.Errorf("%s missing", n)
		}
	}
}

// TestThreeBranchesWhiteoutInMiddle uses a middle branch that carries a
// whiteout and an opaque dir of its own (as left by an earlier union whose
// upper branch became a lower one).
func TestThreeBranchesWhiteoutInMiddle(t *testing.T) {
	e := newEnv(t, 3, func(d []string) {
		writeHost(t, filepath.Join(d[2], "gone"), "bottom", 0o644)
		writeHost(t, filepath.Join(d[2], "kept"), "bottom", 0o644)
		writeHost(t, filepath.Join(d[2], "op", "hidden"), "bottom", 0o644)
		writeHost(t, filepath.Join(d[2], "m", "low"), "bottom", 0o644)
		writeHost(t, filepath.Join(d[1], ".wh.gone"), "", 0o600)
		writeHost(t, filepath.Join(d[1], "op", ".wh..wh..opq"), "", 0o600)
		writeHost(t, filepath.Join(d[1], "op", "mid"), "middle", 0o644)
		writeHost(t, filepath.Join(d[1], "m", "mid"), "middle", 0o644)
		writeHost(t, filepath.Join(d[1], "kept"), "middle", 0o644)
	}, nil)
	if got, want := e.list(""), []string{"kept", "m", "op"}; !slices.Equal(got, want) {
		t.Errorf("readdir root: got %v, want %v", got, want)
	}
	if got, want := e.list("op"), []string{"mid"}; !slices.Equal(got, want) {
		t.Errorf("readdir opaque dir: got %v, want %v", got, want)
	}
	if got, want := e.list("m"), []string{"low", "mid"}; !slices.Equal(got, want) {
		t.Errorf("readdir merged dir: got %v, want %v", got, want)
	}
	_, err := e.u.Stat(e.ctx, "gone")
	e.wantErrno(err, syscall.ENOENT, "stat of a name whited out in the middle branch")
	_, err = e.u.Stat(e.ctx, "op/hidden")
	e.wantErrno(err, syscall.ENOENT, "stat below a middle opaque dir")
	if got := e.read("kept"); got != "middle" {
		t.Errorf("read kept: got %q, want the middle branch's", got)
	}
	// Creating over the middle whiteout must not bring the bottom back.
	must(t, e.u.Mkdir(e.ctx, "gone", 0o755))
	must(t, e.u.Rmdir(e.ctx, "gone"))
	_, err = e.u.Stat(e.ctx, "gone")
	e.wantErrno(err, syscall.ENOENT, "stat after mkdir+rmdir over a middle whiteout")
}

func TestReservedNamesRejected(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "x", 0o644) }, nil)
	must(t, e.u.Unlink(e.ctx, "f"))
	calls := map[string]error{
		"stat whiteout": func() error { _, err := e.u.Stat(e.ctx, ".wh.f"); return err }(),
		"open create":   closeOpenName(e, "d/.wh.x", unix.O_WRONLY|unix.O_CREAT),
		"open opaque":   closeOpenName(e, ".wh..wh..opq", unix.O_RDONLY),
		"mkdir":         e.u.Mkdir(e.ctx, ".wh.dir", 0o755),
		"unlink":        e.u.Unlink(e.ctx, ".wh.f"),
		"rename from":   e.u.Rename(e.ctx, ".wh.f", "g", 0),
		"rename to":     e.u.Rename(e.ctx, "g", ".wh.g", 0),
		"symlink":       e.u.Symlink(e.ctx, "t", ".wh.l"),
		"link":          e.u.Link(e.ctx, "f", ".wh.l"),
		"chmod":         e.u.Chmod(e.ctx, "a/.wh.b/c", 0o600),
	}
	for what, err := range calls {
		e.wantErrno(err, syscall.EINVAL, what)
	}
	if !e.exists(e.upper(".wh.f")) {
		t.Error("the whiteout was touched")
	}
	// A symlink into the reserved namespace is refused when followed.
	must(t, e.u.Symlink(e.ctx, ".wh.f", "sneaky"))
	_, err := e.u.Stat(e.ctx, "sneaky")
	e.wantErrno(err, syscall.EINVAL, "stat through a link to a reserved name")
}

func TestRenameLowerFile(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { seedAttrFile(t, filepath.Join(d[1], "d", "f"), "content") }, nil)
	want := hostStat(t, e.lower("d/f"))
	must(t, e.u.Rename(e.ctx, "d/f", "g", 0))
	sameAttrs(t, e.upper("g"), want) // before reading moves the atime
	if got := e.read("g"); got != "content" {
		t.Errorf("read renamed: got %q, want %q", got, "content")
	}
	_, err := e.u.Stat(e.ctx, "d/f")
	e.wantErrno(err, syscall.ENOENT, "stat old name")
	if !e.exists(e.upper("d/.wh.f")) {
		t.Error("no whiteout for the old name")
	}
	// Rename back over the whiteout.
	must(t, e.u.Rename(e.ctx, "g", "d/f", 0))
	if got := e.read("d/f"); got != "content" {
		t.Errorf("read renamed back: got %q", got)
	}
	if got := e.list("d"); !slices.Equal(got, []string{"f"}) {
		t.Errorf("readdir d: got %v, want [f]", got)
	}
}

func TestRenameNoReplaceSeesLowerNames(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "lowtarget"), "low", 0o644)
		must(t, os.Mkdir(filepath.Join(d[1], "lowdir"), 0o755))
	}, nil)
	e.write("a", unix.O_WRONLY|unix.O_CREAT, "a")
	must(t, e.u.Mkdir(e.ctx, "updir", 0o755))
	e.wantErrno(e.u.Rename(e.ctx, "a", "lowtarget", unix.RENAME_NOREPLACE), syscall.EEXIST, "NOREPLACE over a lower file")
	e.wantErrno(e.u.Rename(e.ctx, "updir", "lowdir", unix.RENAME_NOREPLACE), syscall.EEXIST, "NOREPLACE over a lower dir")
	e.wantErrno(e.u.Rename(e.ctx, "a", "b", unix.RENAME_EXCHANGE), syscall.EINVAL, "RENAME_EXCHANGE")
	must(t, e.u.Rename(e.ctx, "a", "lowtarget", 0))
	if got := e.read("lowtarget"); got != "a" {
		t.Errorf("after replacing a lower file: got %q, want %q", got, "a")
	}
}

func TestRenameLowerDirIsEXDEV(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "low", "f"), "x", 0o644)
		writeHost(t, filepath.Join(d[1], "mixed", "f"), "x", 0o644)
	}, nil)
	e.wantErrno(e.u.Rename(e.ctx, "low", "other", 0), syscall.EXDEV, "rename of a lower dir")
	e.write("mixed/new", unix.O_WRONLY|unix.O_CREAT, "n")
	e.wantErrno(e.u.Rename(e.ctx, "mixed", "other", 0), syscall.EXDEV, "rename of a merged dir")
	// Once the lower content is gone, the upper dir is still merged with
	// an (empty) lower dir, so the policy still applies.
	must(t, e.u.Unlink(e.ctx, "mixed/f"))
	e.wantErrno(e.u.Rename(e.ctx, "mixed", "other", 0), syscall.EXDEV, "rename of a dir that still exists below")
	if got := e.list("low"); !slices.Equal(got, []string{"f"}) {
		t.Errorf("low after failed rename: got %v", got)
	}
}

func TestRenameUpperDir(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "target", "lowfile"), "x", 0o644)
	}, nil)
	must(t, e.u.Mkdir(e.ctx, "up", 0o755))
	e.write("up/f", unix.O_WRONLY|unix.O_CREAT, "f")
	must(t, e.u.Rename(e.ctx, "up", "moved", 0))
	if got := e.read("moved/f"); got != "f" {
		t.Errorf("read through moved dir: got %q", got)
	}
	_, err := e.u.Stat(e.ctx, "up")
	e.wantErrno(err, syscall.ENOENT, "old dir name")
	// Over a whited-out lower dir: the moved dir must hide the lower content.
	must(t, e.u.Unlink(e.ctx, "target/lowfile"))
	must(t, e.u.Rmdir(e.ctx, "target"))
	must(t, e.u.Rename(e.ctx, "moved", "target", 0))
	if got := e.list("target"); !slices.Equal(got, []string{"f"}) {
		t.Errorf("readdir of the moved dir over a whiteout: got %v, want [f]", got)
	}
	_, err = e.u.Stat(e.ctx, "target/lowfile")
	e.wantErrno(err, syscall.ENOENT, "lower file under the moved dir")
}

func TestRenameUpperDirOverEmptyMergedDir(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "t", "x"), "x", 0o644) }, nil)
	must(t, e.u.Mkdir(e.ctx, "src", 0o755))
	e.write("src/s", unix.O_WRONLY|unix.O_CREAT, "s")
	e.wantErrno(e.u.Rename(e.ctx, "src", "t", 0), syscall.ENOTEMPTY, "rename over a merged non-empty dir")
	must(t, e.u.Unlink(e.ctx, "t/x")) // t: upper dir with a whiteout, lower dir
	must(t, e.u.Rename(e.ctx, "src", "t", 0))
	if got := e.list("t"); !slices.Equal(got, []string{"s"}) {
		t.Errorf("readdir after replacing a merged dir: got %v, want [s]", got)
	}
	e.noTemporaries()
}

func TestSymlinkFollowedAcrossBranches(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "dir", "target"), "lower", 0o644) }, nil)
	must(t, e.u.Symlink(e.ctx, "/dir/target", "abs"))
	must(t, e.u.Symlink(e.ctx, "dir/target", "rel"))
	for _, l := range []string{"abs", "rel"} {
		if got := e.read(l); got != "lower" {
			t.Errorf("read through %s: got %q", l, got)
		}
	}
	e.write("rel", unix.O_WRONLY|unix.O_TRUNC, "written")
	if got, _ := os.ReadFile(e.upper("dir/target")); string(got) != "written" {
		t.Errorf("write through a link did not copy up the target: got %q", got)
	}
	if st, err := os.Lstat(e.upper("rel")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link itself changed: %v", err)
	}
}

func TestStatfsReportsUpper(t *testing.T) {
	e := newEnv(t, 2, nil, nil)
	got, err := e.u.Statfs(e.ctx, "")
	must(t, err)
	want, err := e.brs[0].Statfs(e.ctx, "")
	must(t, err)
	if got.Type != want.Type || got.Bsize != want.Bsize || got.Blocks != want.Blocks {
		t.Errorf("statfs: got %+v, want branch 0's %+v", got, want)
	}
}

func TestXattrsCopiedUpAndForwarded(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "f"), "x", 0o644)
		if err := unix.Setxattr(filepath.Join(d[1], "f"), "user.lower", []byte("L"), 0); err != nil {
			t.Skipf("needs user xattrs on the temp dir filesystem: %v", err)
		}
	}, nil)
	x := fs.Service(e.u).(fs.Xattrer)
	if _, ok := e.brs[0].(fs.Xattrer); !ok {
		t.Skip("fs/local has no xattrs")
	}
	buf := make([]byte, 64)
	n, err := x.Getxattr(e.ctx, "f", "user.lower", buf)
	must(t, err)
	if string(buf[:n]) != "L" {
		t.Errorf("getxattr from lower: got %q", buf[:n])
	}
	must(t, x.Setxattr(e.ctx, "f", "user.new", []byte("N"), 0))
	for attr, want := range map[string]string{"user.lower": "L", "user.new": "N"} {
		n, err := unix.Getxattr(e.upper("f"), attr, buf)
		if err != nil || string(buf[:n]) != want {
			t.Errorf("upper %s: got %q, %v; want %q", attr, buf[:max(n, 0)], err, want)
		}
	}
}

// TestSharedLowerPrivateChanges runs several unions over one lower service
// at once; each changes the same names, and each must see only its own
// changes.
func TestSharedLowerPrivateChanges(t *testing.T) {
	lowerDir := t.TempDir()
	writeHost(t, filepath.Join(lowerDir, "shared"), "base", 0o644)
	writeHost(t, filepath.Join(lowerDir, "dir", "victim"), "base", 0o644)
	checkTreeUnchanged(t, lowerDir)
	lower := newLower(t, lowerDir)
	const n = 8
	unions := make([]*union.Union, n)
	for i := range unions {
		u, err := union.New([]fs.Service{newLocal(t, t.TempDir()), lower})
		must(t, err)
		unions[i] = u
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, u := range unions {
		wg.Go(func() {
			ctx := t.Context()
			tag := fmt.Sprintf("union%d", i)
			f, err := u.Open(ctx, "shared", unix.O_WRONLY|unix.O_TRUNC, 0)
			if err == nil {
				_, err = f.Pwrite([]byte(tag), 0)
				f.Close()
			}
			if err == nil {
				err = u.Unlink(ctx, "dir/victim")
			}
			if err == nil {
				var g fs.File
				g, err = u.Open(ctx, "dir/"+tag, unix.O_WRONLY|unix.O_CREAT, 0o644)
				if err == nil {
					g.Close()
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err)
	}
	for i, u := range unions {
		e := &env{t: t, ctx: t.Context(), u: u}
		tag := fmt.Sprintf("union%d", i)
		if got := e.read("shared"); got != tag {
			t.Errorf("union %d reads %q, want its own %q", i, got, tag)
		}
		if got := e.list("dir"); !slices.Equal(got, []string{tag}) {
			t.Errorf("union %d lists dir %v, want [%s]", i, got, tag)
		}
	}
	fresh, err := union.New([]fs.Service{newLocal(t, t.TempDir()), lower})
	must(t, err)
	e := &env{t: t, ctx: t.Context(), u: fresh}
	if got := e.read("shared"); got != "base" {
		t.Errorf("a fresh union over the shared lower reads %q, want %q", got, "base")
	}
	names := e.list("dir")
	sort.Strings(names)
	if !slices.Equal(names, []string{"victim"}) {
		t.Errorf("a fresh union lists dir %v, want [victim]", names)
	}
}

// TestConcurrentMixedOperations runs creators, removers and copy-ups in one
// directory at once, then checks the merged view against what each worker
// did (meant for -race).
func TestConcurrentMixedOperations(t *testing.T) {
	const workers, files = 4, 40
	e := newEnv(t, 2, func(d []string) {
		for w := range workers {
			for i := range files {
				writeHost(t, filepath.Join(d[1], "d", fmt.Sprintf("w%d-%d", w, i)), "lower", 0o644)
			}
		}
	}, nil)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range files {
				name := fmt.Sprintf("d/w%d-%d", w, i)
				var err error
				switch i % 3 {
				case 0:
					err = e.u.Unlink(e.ctx, name)
				case 1:
					err = e.u.Chmod(e.ctx, name, 0o600)
				case 2:
					err = e.u.Rename(e.ctx, name, name+"-r", 0)
				}
				if err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		})
	}
	wg.Wait()
	got := e.list("d")
	var want []string
	for w := range workers {
		for i := range files {
			name := fmt.Sprintf("w%d-%d", w, i)
			switch i % 3 {
			case 1:
				want = append(want, name)
			case 2:
				want = append(want, name+"-r")
			}
		}
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("merged dir after concurrent ops: got %d names, want %d\ngot  %v\nwant %v", len(got), len(want), got, want)
	}
	e.noTemporaries()
}

// TestSymlinkedDirectoryAcrossBranches covers a merged-/usr image: lib is a
// lower symlink to usr/lib. Names reached through it must obey the upper
// branch's whiteouts and copy-ups, since the union (not a branch) resolves
// directory links.
func TestSymlinkedDirectoryAcrossBranches(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "usr", "lib", "foo"), "foo", 0o644)
		writeHost(t, filepath.Join(d[1], "usr", "lib", "keep"), "keep", 0o644)
		must(t, os.Symlink("usr/lib", filepath.Join(d[1], "lib")))
	}, nil)
	if got := e.read("lib/foo"); got != "foo" {
		t.Errorf("read through the lower dir link: got %q", got)
	}
	must(t, e.u.Unlink(e.ctx, "lib/foo"))
	for _, n := range []string{"lib/foo", "usr/lib/foo"} {
		_, err := e.u.Stat(e.ctx, n)
		e.wantErrno(err, syscall.ENOENT, "stat "+n+" after unlink through the link")
	}
	if !e.exists(e.upper("usr/lib/.wh.foo")) {
		t.Error("the whiteout is not next to the real name usr/lib/foo")
	}
	e.write("lib/keep", unix.O_WRONLY|unix.O_TRUNC, "changed")
	if got, _ := os.ReadFile(e.upper("usr/lib/keep")); string(got) != "changed" {
		t.Errorf("write through the link: upper usr/lib/keep = %q", got)
	}
	e.write("lib/new", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, "new")
	if got, want := e.list("lib"), []string{"keep", "new"}; !slices.Equal(got, want) {
		t.Errorf("readdir through the link: got %v, want %v", got, want)
	}
	if st, err := os.Lstat(e.upper("lib")); err == nil {
		t.Errorf("the link itself was copied up as %v", st.Mode())
	}
	// An upper link to a lower directory works the same way.
	must(t, e.u.Symlink(e.ctx, "/usr", "u"))
	if got := e.read("u/lib/keep"); got != "changed" {
		t.Errorf("read through an upper link to a merged dir: got %q", got)
	}
	must(t, e.u.Mkdir(e.ctx, "u/lib/sub", 0o755))
	if !e.exists(e.upper("usr/lib/sub")) {
		t.Error("mkdir through an upper link did not create usr/lib/sub")
	}
}

func TestOpenNofollowLowerSymlinkForWriteIsELOOP(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "f"), "x", 0o644)
		must(t, os.Symlink("f", filepath.Join(d[1], "l")))
	}, nil)
	_, err := e.u.Open(e.ctx, "l", unix.O_WRONLY|unix.O_NOFOLLOW, 0)
	e.wantErrno(err, syscall.ELOOP, "write-open of a lower symlink with O_NOFOLLOW")
	_, err = e.u.Open(e.ctx, "l", unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	e.wantErrno(err, syscall.ELOOP, "read-open of a lower symlink with O_NOFOLLOW")
	if e.exists(e.upper("l")) || e.exists(e.upper("f")) {
		t.Error("a failed open copied something up")
	}
}
