package fstest

import (
	"fmt"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func init() {
	register(
		testCase{name: "mkdir_mode_and_type", fn: testMkdir},
		testCase{name: "mkdir_eexist", fn: testMkdirExist},
		testCase{name: "mkdir_missing_parent_enoent", fn: testMkdirMissingParent},
		testCase{name: "rmdir_empty", fn: testRmdir},
		testCase{name: "rmdir_nonempty_enotempty", fn: testRmdirNonEmpty},
		testCase{name: "rmdir_file_enotdir", fn: testRmdirFile},
		testCase{name: "rmdir_missing_and_root", fn: testRmdirMissing},
		testCase{name: "unlink_file", fn: testUnlink},
		testCase{name: "unlink_dir_eisdir", fn: testUnlinkDir},
		testCase{name: "unlink_symlink_keeps_target", fn: testUnlinkSymlink},
		testCase{name: "rename_file", fn: testRename},
		testCase{name: "rename_replace_file", fn: testRenameReplace},
		testCase{name: "rename_noreplace_eexist", fn: testRenameNoreplace},
		testCase{name: "rename_dir_over_nonempty_dir_enotempty", fn: testRenameDirNonEmpty},
		testCase{name: "rename_dir_over_empty_dir", fn: testRenameDirEmpty},
		testCase{name: "rename_file_over_dir_eisdir", fn: testRenameFileOverDir},
		testCase{name: "rename_dir_over_file_enotdir", fn: testRenameDirOverFile},
		testCase{name: "rename_into_own_subdir_einval", fn: testRenameIntoSubdir},
		testCase{name: "rename_to_itself", fn: testRenameItself},
		testCase{name: "rename_between_hardlinks_noop", needs: []feature{featHardlinks}, fn: testRenameHardlinks},
		testCase{name: "rename_dir_with_contents", fn: testRenameDirContents},
		testCase{name: "rename_exchange_or_einval", fn: testRenameExchange},
		testCase{name: "readdir_types", fn: testReaddirTypes},
		testCase{name: "readdir_empty_dir", fn: testReaddirEmpty},
		testCase{name: "readdir_1000_entries", fn: testReaddirBig},
		testCase{name: "readdir_chunks", fn: testReaddirChunks},
		testCase{name: "readdir_concurrent_mutation", fn: testReaddirConcurrent},
		testCase{name: "opendir_errors", fn: testOpendirErrors},
		testCase{name: "opendir_through_symlink", fn: testOpendirSymlink},
		testCase{name: "deep_tree_64", fn: testDeepTree},
	)
}

func testMkdir(t *testing.T, s fs.Service) {
	must(t, s.Mkdir(ctx(t), "d", 0o700), "mkdir")
	st := stat(t, s, "d")
	if !st.IsDir() || perm(st) != 0o700 {
		t.Errorf("mkdir 0700: got mode %o", st.Mode)
	}
	must(t, s.Mkdir(ctx(t), "d/e", 0o755), "mkdir nested")
	writeFile(t, s, "d/e/f", []byte("x"), 0o644)
	if got := readFile(t, s, "d/e/f"); string(got) != "x" {
		t.Errorf("file in new dir: got %q", got)
	}
}

func testMkdirExist(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	writeFile(t, s, "f", nil, 0o644)
	symlink(t, s, "nowhere", "dangling")
	for _, name := range []string{"d", "f", "dangling", ""} {
		wantErrno(t, s.Mkdir(ctx(t), name, 0o755), syscall.EEXIST, "mkdir existing "+name)
	}
	if exists(t, s, "nowhere") {
		t.Errorf("mkdir through a dangling symlink created its target")
	}
}

func testMkdirMissingParent(t *testing.T, s fs.Service) {
	wantErrno(t, s.Mkdir(ctx(t), "a/b", 0o755), syscall.ENOENT, "mkdir a/b without a")
}

func testRmdir(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	mkdir(t, s, "d/e")
	must(t, s.Rmdir(ctx(t), "d/e"), "rmdir d/e")
	must(t, s.Rmdir(ctx(t), "d"), "rmdir d")
	if exists(t, s, "d") {
		t.Errorf("d still exists after rmdir")
	}
}

func testRmdirNonEmpty(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	writeFile(t, s, "d/f", nil, 0o644)
	wantOneOf(t, s.Rmdir(ctx(t), "d"), "rmdir non-empty", syscall.ENOTEMPTY, syscall.EEXIST)
	if !exists(t, s, "d/f") {
		t.Errorf("content lost after failed rmdir")
	}
}

func testRmdirFile(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	wantErrno(t, s.Rmdir(ctx(t), "f"), syscall.ENOTDIR, "rmdir a file")
	mkdir(t, s, "d")
	symlink(t, s, "d", "link")
	wantErrno(t, s.Rmdir(ctx(t), "link"), syscall.ENOTDIR, "rmdir a symlink to a dir")
	if !exists(t, s, "d") {
		t.Errorf("rmdir through a symlink removed the target")
	}
}

func testRmdirMissing(t *testing.T, s fs.Service) {
	wantErrno(t, s.Rmdir(ctx(t), "missing"), syscall.ENOENT, "rmdir missing")
	wantOneOf(t, s.Rmdir(ctx(t), ""), "rmdir root", syscall.EBUSY, syscall.EINVAL, syscall.EPERM)
	if st := stat(t, s, ""); !st.IsDir() {
		t.Errorf("root gone")
	}
}

func testUnlink(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	must(t, s.Unlink(ctx(t), "f"), "unlink")
	if exists(t, s, "f") {
		t.Errorf("f exists after unlink")
	}
	wantErrno(t, s.Unlink(ctx(t), "f"), syscall.ENOENT, "second unlink")
}

func testUnlinkDir(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	wantErrno(t, s.Unlink(ctx(t), "d"), syscall.EISDIR, "unlink a directory")
	if !exists(t, s, "d") {
		t.Errorf("d removed by a failed unlink")
	}
}

func testUnlinkSymlink(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("x"), 0o644)
	symlink(t, s, "f", "link")
	must(t, s.Unlink(ctx(t), "link"), "unlink link")
	if exists(t, s, "link") || !exists(t, s, "f") {
		t.Errorf("unlink of a symlink: link exists %v, target exists %v; want false, true", exists(t, s, "link"), exists(t, s, "f"))
	}
}

func testRename(t *testing.T, s fs.Service) {
	writeFile(t, s, "a", []byte("A"), 0o644)
	must(t, s.Rename(ctx(t), "a", "b", 0), "rename")
	if exists(t, s, "a") {
		t.Errorf("old name exists after rename")
	}
	if got := readFile(t, s, "b"); string(got) != "A" {
		t.Errorf("new name content: got %q", got)
	}
	wantErrno(t, s.Rename(ctx(t), "a", "c", 0), syscall.ENOENT, "rename missing")
	wantErrno(t, s.Rename(ctx(t), "b", "missing/c", 0), syscall.ENOENT, "rename into a missing dir")
}

func testRenameReplace(t *testing.T, s fs.Service) {
	writeFile(t, s, "a", []byte("A"), 0o644)
	writeFile(t, s, "b", []byte("B"), 0o644)
	ino := stat(t, s, "a").Ino
	must(t, s.Rename(ctx(t), "a", "b", 0), "rename over file")
	if st := stat(t, s, "b"); st.Ino != ino {
		t.Errorf("b after replace: got ino %d, want a's %d", st.Ino, ino)
	}
	if got := readFile(t, s, "b"); string(got) != "A" {
		t.Errorf("b content: got %q, want \"A\"", got)
	}
}

func testRenameNoreplace(t *testing.T, s fs.Service) {
	writeFile(t, s, "a", []byte("A"), 0o644)
	writeFile(t, s, "b", []byte("B"), 0o644)
	wantErrno(t, s.Rename(ctx(t), "a", "b", unix.RENAME_NOREPLACE), syscall.EEXIST, "RENAME_NOREPLACE over a file")
	if got := readFile(t, s, "b"); string(got) != "B" {
		t.Errorf("b changed by a failed NOREPLACE: got %q", got)
	}
	must(t, s.Rename(ctx(t), "a", "c", unix.RENAME_NOREPLACE), "RENAME_NOREPLACE to a free name")
	if got := readFile(t, s, "c"); string(got) != "A" {
		t.Errorf("c: got %q", got)
	}
}

func testRenameDirNonEmpty(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	mkdir(t, s, "b")
	writeFile(t, s, "b/f", nil, 0o644)
	wantOneOf(t, s.Rename(ctx(t), "a", "b", 0), "rename dir over non-empty dir", syscall.ENOTEMPTY, syscall.EEXIST)
}

func testRenameDirEmpty(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	writeFile(t, s, "a/f", []byte("f"), 0o644)
	mkdir(t, s, "b")
	must(t, s.Rename(ctx(t), "a", "b", 0), "rename dir over empty dir")
	if got := readFile(t, s, "b/f"); string(got) != "f" {
		t.Errorf("b/f: got %q", got)
	}
}

func testRenameFileOverDir(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	mkdir(t, s, "d")
	wantErrno(t, s.Rename(ctx(t), "f", "d", 0), syscall.EISDIR, "rename file over dir")
}

func testRenameDirOverFile(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	mkdir(t, s, "d")
	wantErrno(t, s.Rename(ctx(t), "d", "f", 0), syscall.ENOTDIR, "rename dir over file")
}

func testRenameIntoSubdir(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	mkdir(t, s, "a/b")
	wantErrno(t, s.Rename(ctx(t), "a", "a/b/c", 0), syscall.EINVAL, "rename dir into its own subdir")
	wantErrno(t, s.Rename(ctx(t), "a", "a/c", 0), syscall.EINVAL, "rename dir into itself")
}

func testRenameItself(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("same"), 0o644)
	must(t, s.Rename(ctx(t), "f", "f", 0), "rename to itself")
	if got := readFile(t, s, "f"); string(got) != "same" {
		t.Errorf("after rename to itself: got %q", got)
	}
	mkdir(t, s, "d")
	must(t, s.Rename(ctx(t), "d", "d", 0), "rename a dir to itself")
}

func testRenameHardlinks(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("same"), 0o644)
	must(t, s.Link(ctx(t), "f", "g"), "link")
	must(t, s.Rename(ctx(t), "f", "g", 0), "rename onto a hard link of itself")
	if !exists(t, s, "f") || !exists(t, s, "g") {
		t.Errorf("rename between two links of one inode must do nothing: f %v, g %v", exists(t, s, "f"), exists(t, s, "g"))
	}
}

func testRenameDirContents(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	mkdir(t, s, "a/b")
	writeFile(t, s, "a/b/f", []byte("deep"), 0o644)
	mkdir(t, s, "z")
	must(t, s.Rename(ctx(t), "a", "z/a2", 0), "rename a tree")
	if got := readFile(t, s, "z/a2/b/f"); string(got) != "deep" {
		t.Errorf("moved tree: got %q", got)
	}
	if exists(t, s, "a") {
		t.Errorf("old tree still present")
	}
}

func testRenameExchange(t *testing.T, s fs.Service) {
	writeFile(t, s, "a", []byte("A"), 0o644)
	mkdir(t, s, "b")
	err := s.Rename(ctx(t), "a", "b", unix.RENAME_EXCHANGE)
	if err != nil {
		wantErrno(t, err, syscall.EINVAL, "RENAME_EXCHANGE")
		return
	}
	if st := stat(t, s, "a"); !st.IsDir() || string(readFile(t, s, "b")) != "A" {
		t.Errorf("RENAME_EXCHANGE succeeded but did not swap the names")
	}
}

func testReaddirTypes(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	writeFile(t, s, "d/file", nil, 0o644)
	mkdir(t, s, "d/dir")
	symlink(t, s, "file", "d/link")
	got := names(listDir(t, s, "d", 0))
	want := map[string]uint8{"file": unix.DT_REG, "dir": unix.DT_DIR, "link": unix.DT_LNK}
	if len(got) != len(want) {
		t.Errorf("entries: got %v, want exactly %v (no . or ..)", got, want)
	}
	for name, typ := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("entry %q missing", name)
			continue
		}
		if e.Type != typ {
			t.Errorf("entry %q: got d_type %d, want %d", name, e.Type, typ)
		}
		if st := lstat(t, s, "d/"+name); e.Ino != st.Ino {
			t.Errorf("entry %q: got d_ino %d, want the lstat ino %d", name, e.Ino, st.Ino)
		}
	}
}

func testReaddirEmpty(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	d, err := s.OpenDir(ctx(t), "d")
	must(t, err, "opendir")
	defer d.Close()
	for i := 0; i < 3; i++ {
		ents, err := d.ReadDir(10)
		if err != nil || len(ents) != 0 {
			t.Errorf("ReadDir of an empty dir (call %d): got (%v, %v), want ([], nil)", i, ents, err)
		}
	}
}

func makeEntries(t *testing.T, s fs.Service, dir string, n int) map[string]bool {
	t.Helper()
	mkdir(t, s, dir)
	want := map[string]bool{}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("entry-%04d-%s", i, string(rune('a'+i%26)))
		writeFile(t, s, dir+"/"+name, nil, 0o644)
		want[name] = true
	}
	return want
}

func checkListing(t *testing.T, ents []fs.Dirent, want map[string]bool) {
	t.Helper()
	seen := map[string]bool{}
	for _, e := range ents {
		if seen[e.Name] {
			t.Errorf("entry %q returned twice", e.Name)
		}
		seen[e.Name] = true
		if !want[e.Name] {
			t.Errorf("unexpected entry %q", e.Name)
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("entry %q missing", name)
		}
	}
}

func testReaddirBig(t *testing.T, s fs.Service) {
	want := makeEntries(t, s, "big", 1000)
	ents := listDir(t, s, "big", 0)
	if len(ents) != 1000 {
		t.Errorf("ReadDir(0): got %d entries, want 1000", len(ents))
	}
	checkListing(t, ents, want)
}

func testReaddirChunks(t *testing.T, s fs.Service) {
	want := makeEntries(t, s, "d", 250)
	for _, n := range []int{1, 7, 64, 1000} {
		ents := listDir(t, s, "d", n)
		checkListing(t, ents, want)
	}
}

// testReaddirConcurrent lists a directory in small chunks while other
// goroutines create and remove other entries; every entry present throughout
// must be returned exactly once.
func testReaddirConcurrent(t *testing.T, s fs.Service) {
	stable := makeEntries(t, s, "d", 500)
	d, err := s.OpenDir(ctx(t), "d")
	must(t, err, "opendir")
	defer d.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := fmt.Sprintf("d/churn-%d-%d", w, i%40)
				if i%80 < 40 {
					f, err := s.Open(ctx(t), name, unix.O_CREAT|unix.O_WRONLY, 0o644)
					if err == nil {
						f.Close()
					}
				} else {
					_ = s.Unlink(ctx(t), name)
				}
			}
		}()
	}
	seen := map[string]int{}
	for {
		ents, err := d.ReadDir(3)
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("readdir: %v", err)
		}
		if len(ents) == 0 {
			break
		}
		for _, e := range ents {
			seen[e.Name]++
		}
	}
	close(stop)
	wg.Wait()
	for name := range stable {
		if seen[name] != 1 {
			t.Errorf("stable entry %q returned %d times, want 1", name, seen[name])
		}
	}
	for name, n := range seen {
		if n > 1 {
			t.Errorf("entry %q returned %d times", name, n)
		}
	}
}

func testOpendirErrors(t *testing.T, s fs.Service) {
	_, err := s.OpenDir(ctx(t), "missing")
	wantErrno(t, err, syscall.ENOENT, "opendir missing")
	writeFile(t, s, "f", nil, 0o644)
	_, err = s.OpenDir(ctx(t), "f")
	wantErrno(t, err, syscall.ENOTDIR, "opendir a file")
	ents := listDir(t, s, "", 0)
	if len(ents) != 1 || ents[0].Name != "f" {
		t.Errorf("root listing: got %v, want only f", ents)
	}
}

func testOpendirSymlink(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	writeFile(t, s, "d/x", nil, 0o644)
	symlink(t, s, "d", "link")
	ents := listDir(t, s, "link", 0)
	if len(ents) != 1 || ents[0].Name != "x" {
		t.Errorf("listing through a symlink: got %v, want [x]", ents)
	}
}

func testDeepTree(t *testing.T, s fs.Service) {
	const depth = 64
	p := ""
	var dirs []string
	for i := 0; i < depth; i++ {
		if p != "" {
			p += "/"
		}
		p += fmt.Sprintf("level%02d", i)
		mkdir(t, s, p)
		dirs = append(dirs, p)
	}
	leaf := p + "/leaf"
	writeFile(t, s, leaf, []byte("bottom"), 0o644)
	if st := stat(t, s, leaf); st.Size != 6 {
		t.Errorf("leaf size: got %d", st.Size)
	}
	if got := readFile(t, s, leaf); string(got) != "bottom" {
		t.Errorf("leaf content: got %q", got)
	}
	wantOneOf(t, s.Rmdir(ctx(t), dirs[0]), "rmdir the non-empty top", syscall.ENOTEMPTY, syscall.EEXIST)
	removeAll(t, s, dirs[0])
	if exists(t, s, dirs[0]) {
		t.Errorf("tree still present after recursive removal")
	}
}

// removeAll removes name and everything below it through the service.
func removeAll(t *testing.T, s fs.Service, name string) {
	t.Helper()
	st := lstat(t, s, name)
	if !st.IsDir() {
		must(t, s.Unlink(ctx(t), name), "unlink "+name)
		return
	}
	for _, e := range listDir(t, s, name, 100) {
		removeAll(t, s, name+"/"+e.Name)
	}
	must(t, s.Rmdir(ctx(t), name), "rmdir "+name)
}
