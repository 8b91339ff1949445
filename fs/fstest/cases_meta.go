package fstest

import (
	"bytes"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func init() {
	register(
		testCase{name: "stat_fields_file", fn: testStatFields},
		testCase{name: "stat_fields_dir", fn: testStatDir},
		testCase{name: "stat_inode_stable", fn: testInodeStable},
		testCase{name: "stat_mtime_ctime_move_on_write", fn: testTimesMoveOnWrite},
		testCase{name: "stat_ctime_moves_on_chmod", fn: testCtimeOnChmod},
		testCase{name: "lstat_vs_stat_symlink", fn: testLstatVsStat},
		testCase{name: "symlink_chain", fn: testSymlinkChain},
		testCase{name: "symlink_loop_eloop", fn: testSymlinkLoop},
		testCase{name: "symlink_target_dotdot_is_physical", fn: testSymlinkDotdotPhysical},
		testCase{name: "symlink_readlink_relative", fn: testSymlinkRelative},
		testCase{name: "symlink_absolute_resolves_in_root", fn: testSymlinkAbsolute},
		testCase{name: "symlink_errors", fn: testSymlinkErrors},
		testCase{name: "readlink_not_symlink_einval", fn: testReadlinkNotLink},
		testCase{name: "link_nlink", needs: []feature{featHardlinks}, fn: testLink},
		testCase{name: "link_errors", needs: []feature{featHardlinks}, fn: testLinkErrors},
		testCase{name: "chmod", fn: testChmod},
		testCase{name: "chmod_follows_symlink", fn: testChmodFollows},
		testCase{name: "chown", needs: []feature{featChown}, fn: testChown},
		testCase{name: "chown_minus_one_keeps", needs: []feature{featChown}, fn: testChownKeep},
		testCase{name: "chown_nofollow", needs: []feature{featChown}, fn: testChownNofollow},
		testCase{name: "utimens_explicit", fn: testUtimensExplicit},
		testCase{name: "utimens_omit", fn: testUtimensOmit},
		testCase{name: "utimens_now", fn: testUtimensNow},
		testCase{name: "utimens_nofollow", fn: testUtimensNofollow},
		testCase{name: "utimens_chown_bad_flags_einval", fn: testBadFlags},
		testCase{name: "statfs", fn: testStatfs},
		testCase{name: "access", fn: testAccess},
		testCase{name: "xattr", needs: []feature{featXattrs}, fn: testXattr},
	)
}

func testStatFields(t *testing.T, s fs.Service) {
	data := pattern(12345, 1)
	writeFile(t, s, "f", data, 0o640)
	st := stat(t, s, "f")
	if !st.IsRegular() || perm(st) != 0o640 {
		t.Errorf("mode: got %o, want regular 0640", st.Mode)
	}
	if st.Size != int64(len(data)) {
		t.Errorf("size: got %d, want %d", st.Size, len(data))
	}
	if st.Nlink != 1 {
		t.Errorf("nlink: got %d, want 1", st.Nlink)
	}
	if st.Ino == 0 {
		t.Errorf("ino: got 0")
	}
	// A file and a directory created by the same service belong to the
	// same owner (the service's identity).
	mkdir(t, s, "owner-probe")
	if d := stat(t, s, "owner-probe"); d.Uid != st.Uid || d.Gid != st.Gid {
		t.Errorf("owner: file %d:%d, directory %d:%d, want equal", st.Uid, st.Gid, d.Uid, d.Gid)
	}
	if st.Blksize <= 0 {
		t.Errorf("blksize: got %d, want > 0", st.Blksize)
	}
	if st.Blocks*512 < int64(len(data)) {
		t.Errorf("blocks: got %d (x512 = %d), want at least the size %d", st.Blocks, st.Blocks*512, len(data))
	}
	if st.Mtime.Sec == 0 || st.Ctime.Sec == 0 || st.Atime.Sec == 0 {
		t.Errorf("times unset: atime %v mtime %v ctime %v", st.Atime, st.Mtime, st.Ctime)
	}
	now := time.Now().Unix()
	if d := now - st.Mtime.Sec; d < -600 || d > 600 {
		t.Errorf("mtime of a new file: got %d, want within 10 min of now (%d)", st.Mtime.Sec, now)
	}
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "open")
	fst, err := f.Stat()
	must(t, err, "fstat")
	must(t, f.Close(), "close")
	lst := lstat(t, s, "f")
	for _, o := range []fs.Stat{fst, lst} {
		if o.Ino != st.Ino || o.Dev != st.Dev || o.Mode != st.Mode || o.Uid != st.Uid || o.Gid != st.Gid || o.Size != st.Size || o.Nlink != st.Nlink {
			t.Errorf("fstat/lstat disagree with stat:\n got  %+v\n want %+v", o, st)
		}
	}
}

func testStatDir(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	must(t, s.Mkdir(ctx(t), "d/sub", 0o750), "mkdir d/sub")
	st := stat(t, s, "d/sub")
	if !st.IsDir() || perm(st) != 0o750 {
		t.Errorf("mode: got %o, want dir 0750", st.Mode)
	}
	if d := stat(t, s, "d"); d.Nlink == 0 {
		t.Errorf("dir nlink: got %d", d.Nlink)
	}
	if st.Size < 0 {
		t.Errorf("dir size: got %d", st.Size)
	}
}

func testInodeStable(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("a"), 0o644)
	ino := stat(t, s, "f").Ino
	f, err := s.Open(ctx(t), "f", unix.O_WRONLY, 0)
	must(t, err, "open")
	_, err = f.Pwrite([]byte("bcd"), 1)
	must(t, err, "pwrite")
	must(t, f.Close(), "close")
	must(t, s.Chmod(ctx(t), "f", 0o600), "chmod")
	if got := stat(t, s, "f").Ino; got != ino {
		t.Errorf("ino after write+chmod: got %d, want %d", got, ino)
	}
	must(t, s.Rename(ctx(t), "f", "g", 0), "rename")
	if got := stat(t, s, "g").Ino; got != ino {
		t.Errorf("ino after rename: got %d, want %d", got, ino)
	}
	mkdir(t, s, "d")
	ents := names(listDir(t, s, "", 0))
	if ents["g"].Ino != 0 && ents["g"].Ino != ino {
		t.Errorf("readdir ino: got %d, want %d", ents["g"].Ino, ino)
	}
}

var past = [2]fs.Timespec{{Sec: 1_000_000_000, Nsec: 5}, {Sec: 1_000_000_100, Nsec: 7}}

func testTimesMoveOnWrite(t *testing.T, s fs.Service) {
	timesMoveOnFileWrite(t, s)
	// Directory mtime moves when an entry is added.
	mkdir(t, s, "d")
	must(t, s.Utimens(ctx(t), "d", past, 0), "utimens dir")
	writeFile(t, s, "d/x", nil, 0o644)
	if got := stat(t, s, "d").Mtime; !tsLess(past[1], got) {
		t.Errorf("dir mtime after create: got %v, want later than %v", got, past[1])
	}
}

// timesMoveOnFileWrite: a write moves a file's mtime (set to the past
// first) and never moves its ctime or atime backwards.
func timesMoveOnFileWrite(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("a"), 0o644)
	must(t, s.Utimens(ctx(t), "f", past, 0), "utimens to the past")
	before := stat(t, s, "f")
	f, err := s.Open(ctx(t), "f", unix.O_WRONLY, 0)
	must(t, err, "open")
	_, err = f.Pwrite([]byte("b"), 1)
	must(t, err, "pwrite")
	must(t, f.Close(), "close")
	after := stat(t, s, "f")
	if !tsLess(before.Mtime, after.Mtime) {
		t.Errorf("mtime after write: got %v, want later than %v", after.Mtime, before.Mtime)
	}
	if tsLess(after.Ctime, before.Ctime) {
		t.Errorf("ctime went backwards: got %v, before %v", after.Ctime, before.Ctime)
	}
	if !tsEqual(after.Atime, before.Atime) && tsLess(after.Atime, before.Atime) {
		t.Errorf("atime went backwards: %v -> %v", before.Atime, after.Atime)
	}
}

func testCtimeOnChmod(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	c0 := stat(t, s, "f").Ctime
	// The kernel clock is coarse: chmod until ctime moves, bounded.
	deadline := time.Now().Add(5 * time.Second)
	mode := uint32(0o600)
	for {
		must(t, s.Chmod(ctx(t), "f", mode), "chmod")
		st := stat(t, s, "f")
		if tsLess(st.Ctime, c0) {
			t.Fatalf("ctime went backwards: %v -> %v", c0, st.Ctime)
		}
		if tsLess(c0, st.Ctime) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("ctime did not move after chmod for 5s (stays %v)", c0)
		}
		mode ^= 0o044
		time.Sleep(2 * time.Millisecond)
	}
}

func testLstatVsStat(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("12345"), 0o644)
	symlink(t, s, "f", "link")
	st, lst := stat(t, s, "link"), lstat(t, s, "link")
	if !st.IsRegular() || st.Size != 5 {
		t.Errorf("stat link: got mode %o size %d, want the regular 5-byte target", st.Mode, st.Size)
	}
	if !lst.IsSymlink() || lst.Size != int64(len("f")) {
		t.Errorf("lstat link: got mode %o size %d, want a symlink of size 1", lst.Mode, lst.Size)
	}
	if lst.Ino == st.Ino {
		t.Errorf("lstat and stat of a symlink give the same inode %d", st.Ino)
	}
	symlink(t, s, "missing", "dangling")
	_, err := s.Stat(ctx(t), "dangling")
	wantErrno(t, err, syscall.ENOENT, "stat dangling symlink")
	if lst := lstat(t, s, "dangling"); !lst.IsSymlink() {
		t.Errorf("lstat dangling: got mode %o", lst.Mode)
	}
}

func testSymlinkChain(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	writeFile(t, s, "d/f", []byte("end"), 0o644)
	symlink(t, s, "d", "dl")
	symlink(t, s, "dl/f", "l1")
	symlink(t, s, "../l1", "d/l2")
	symlink(t, s, "../d/l2", "d/l3")
	for _, name := range []string{"l1", "d/l2", "d/l3", "dl/l3", "dl/f"} {
		if got := readFile(t, s, name); string(got) != "end" {
			t.Errorf("read through %s: got %q, want %q", name, got, "end")
		}
	}
}

func testSymlinkLoop(t *testing.T, s fs.Service) {
	symlink(t, s, "b", "a")
	symlink(t, s, "a", "b")
	symlink(t, s, "self", "self")
	symlink(t, s, "loopdir/x", "loopdir")
	for _, name := range []string{"a", "self", "loopdir/x", "a/x"} {
		_, err := s.Stat(ctx(t), name)
		wantErrno(t, err, syscall.ELOOP, "stat "+name)
		_, err = s.Open(ctx(t), name, unix.O_RDONLY, 0)
		wantErrno(t, err, syscall.ELOOP, "open "+name)
	}
	if lst := lstat(t, s, "a"); !lst.IsSymlink() {
		t.Errorf("lstat of a looping link: got mode %o", lst.Mode)
	}
}

// testSymlinkDotdotPhysical: inside a symlink target, ".." applies to the
// directory the preceding components resolved to (Linux path walk), not to
// the text. (Names passed to the API are cleaned lexically; targets are not.)
func testSymlinkDotdotPhysical(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	mkdir(t, s, "a/b")
	writeFile(t, s, "a/marker", []byte("physical"), 0o644)
	writeFile(t, s, "marker", []byte("lexical"), 0o644)
	symlink(t, s, "a/b", "bl")
	symlink(t, s, "bl/../marker", "lnk")
	if got := readFile(t, s, "lnk"); string(got) != "physical" {
		t.Errorf("bl/../marker with bl -> a/b: got %q, want a/marker's \"physical\"", got)
	}
	// So "dd1/.." must resolve dd1 first, and these two loop.
	symlink(t, s, "dd2/..", "dd1")
	symlink(t, s, "dd1/..", "dd2")
	for _, name := range []string{"dd1", "dd2/x"} {
		_, err := s.Stat(ctx(t), name)
		wantErrno(t, err, syscall.ELOOP, "stat "+name)
	}
}

func testSymlinkRelative(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	mkdir(t, s, "d/e")
	writeFile(t, s, "top", []byte("top"), 0o644)
	symlink(t, s, "../../top", "d/e/up")
	if got, err := s.Readlink(ctx(t), "d/e/up"); err != nil || got != "../../top" {
		t.Errorf("readlink: got (%q, %v), want \"../../top\"", got, err)
	}
	if got := readFile(t, s, "d/e/up"); string(got) != "top" {
		t.Errorf("read through relative link: got %q", got)
	}
	long := strings.Repeat("abcdefgh/", 100) + "z"
	symlink(t, s, long, "longlink")
	if got, err := s.Readlink(ctx(t), "longlink"); err != nil || got != long {
		t.Errorf("readlink of a %d-byte target: got (%d bytes, %v)", len(long), len(got), err)
	}
}

func testSymlinkAbsolute(t *testing.T, s fs.Service) {
	mkdir(t, s, "etc")
	writeFile(t, s, "etc/passwd", []byte("inside"), 0o644)
	symlink(t, s, "/etc/passwd", "abs")
	symlink(t, s, "/etc", "absdir")
	if got, err := s.Readlink(ctx(t), "abs"); err != nil || got != "/etc/passwd" {
		t.Errorf("readlink: got (%q, %v), want the target verbatim", got, err)
	}
	for _, name := range []string{"abs", "absdir/passwd"} {
		if got := readFile(t, s, name); string(got) != "inside" {
			t.Errorf("read %s: got %q, want the file inside the root", name, got)
		}
	}
	symlink(t, s, "/../../../etc/passwd", "absup")
	if got := readFile(t, s, "absup"); string(got) != "inside" {
		t.Errorf("read absup: got %q, want the file inside the root", got)
	}
}

func testSymlinkErrors(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	wantErrno(t, s.Symlink(ctx(t), "x", "f"), syscall.EEXIST, "symlink over a file")
	symlink(t, s, "x", "l")
	wantErrno(t, s.Symlink(ctx(t), "y", "l"), syscall.EEXIST, "symlink over a symlink")
	wantErrno(t, s.Symlink(ctx(t), "x", "missing/l"), syscall.ENOENT, "symlink in a missing dir")
	wantErrno(t, s.Symlink(ctx(t), "", "empty"), syscall.ENOENT, "symlink with an empty target")
}

func testReadlinkNotLink(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	mkdir(t, s, "d")
	_, err := s.Readlink(ctx(t), "f")
	wantErrno(t, err, syscall.EINVAL, "readlink of a file")
	_, err = s.Readlink(ctx(t), "d")
	wantErrno(t, err, syscall.EINVAL, "readlink of a dir")
}

func testLink(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("shared"), 0o644)
	mkdir(t, s, "d")
	must(t, s.Link(ctx(t), "f", "d/g"), "link")
	st, gst := stat(t, s, "f"), stat(t, s, "d/g")
	if st.Ino != gst.Ino || st.Nlink != 2 || gst.Nlink != 2 {
		t.Errorf("after link: got ino %d/%d nlink %d/%d, want the same ino and nlink 2", st.Ino, gst.Ino, st.Nlink, gst.Nlink)
	}
	f, err := s.Open(ctx(t), "d/g", unix.O_WRONLY|unix.O_APPEND, 0)
	must(t, err, "open link")
	_, err = f.Pwrite([]byte("!"), 0)
	must(t, err, "pwrite")
	must(t, f.Close(), "close")
	if got := readFile(t, s, "f"); string(got) != "shared!" {
		t.Errorf("write through the other name: got %q", got)
	}
	must(t, s.Unlink(ctx(t), "f"), "unlink f")
	if st := stat(t, s, "d/g"); st.Nlink != 1 {
		t.Errorf("nlink after unlinking one name: got %d, want 1", st.Nlink)
	}
	// link(2) does not follow a final symlink of oldname on Linux.
	symlink(t, s, "d/g", "sl")
	must(t, s.Link(ctx(t), "sl", "sl2"), "link a symlink")
	if lst := lstat(t, s, "sl2"); !lst.IsSymlink() {
		t.Errorf("link of a symlink: got mode %o, want a symlink", lst.Mode)
	}
}

func testLinkErrors(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	writeFile(t, s, "g", nil, 0o644)
	mkdir(t, s, "d")
	wantErrno(t, s.Link(ctx(t), "f", "g"), syscall.EEXIST, "link over an existing name")
	wantErrno(t, s.Link(ctx(t), "missing", "h"), syscall.ENOENT, "link of a missing file")
	wantErrno(t, s.Link(ctx(t), "d", "d2"), syscall.EPERM, "link of a directory")
}

func testChmod(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	mkdir(t, s, "d")
	for _, mode := range []uint32{0o600, 0o755, 0o4755, 0o1777, 0o000} {
		must(t, s.Chmod(ctx(t), "f", mode), "chmod file")
		if got := perm(stat(t, s, "f")); got != mode {
			t.Errorf("file mode: got %o, want %o", got, mode)
		}
	}
	must(t, s.Chmod(ctx(t), "d", 0o1770), "chmod dir")
	if st := stat(t, s, "d"); !st.IsDir() || perm(st) != 0o1770 {
		t.Errorf("dir mode: got %o, want dir 01770", st.Mode)
	}
}

func testChmodFollows(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	symlink(t, s, "f", "link")
	must(t, s.Chmod(ctx(t), "link", 0o600), "chmod through link")
	if got := perm(stat(t, s, "f")); got != 0o600 {
		t.Errorf("target mode: got %o, want 0600", got)
	}
	if lst := lstat(t, s, "link"); !lst.IsSymlink() {
		t.Errorf("link itself: got mode %o", lst.Mode)
	}
}

func testChown(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	symlink(t, s, "f", "link")
	must(t, s.Chown(ctx(t), "link", 1234, 5678, 0), "chown through link")
	if st := stat(t, s, "f"); st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("target owner: got %d:%d, want 1234:5678", st.Uid, st.Gid)
	}
	if lst := lstat(t, s, "link"); lst.Uid == 1234 {
		t.Errorf("chown without AT_SYMLINK_NOFOLLOW changed the link itself")
	}
	mkdir(t, s, "d")
	must(t, s.Chown(ctx(t), "d", 42, 43, 0), "chown dir")
	if st := stat(t, s, "d"); st.Uid != 42 || st.Gid != 43 {
		t.Errorf("dir owner: got %d:%d, want 42:43", st.Uid, st.Gid)
	}
}

func testChownKeep(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	must(t, s.Chown(ctx(t), "f", 100, 200, 0), "chown")
	must(t, s.Chown(ctx(t), "f", -1, 300, 0), "chown gid only")
	if st := stat(t, s, "f"); st.Uid != 100 || st.Gid != 300 {
		t.Errorf("after chown(-1, 300): got %d:%d, want 100:300", st.Uid, st.Gid)
	}
	must(t, s.Chown(ctx(t), "f", 400, -1, 0), "chown uid only")
	if st := stat(t, s, "f"); st.Uid != 400 || st.Gid != 300 {
		t.Errorf("after chown(400, -1): got %d:%d, want 400:300", st.Uid, st.Gid)
	}
}

func testChownNofollow(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	symlink(t, s, "f", "link")
	before := stat(t, s, "f")
	must(t, s.Chown(ctx(t), "link", 777, 888, atSymlinkNofollow), "lchown")
	if lst := lstat(t, s, "link"); lst.Uid != 777 || lst.Gid != 888 {
		t.Errorf("link owner: got %d:%d, want 777:888", lst.Uid, lst.Gid)
	}
	if st := stat(t, s, "f"); st.Uid != before.Uid || st.Gid != before.Gid {
		t.Errorf("lchown changed the target: got %d:%d, want %d:%d", st.Uid, st.Gid, before.Uid, before.Gid)
	}
}

func testUtimensExplicit(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	must(t, s.Utimens(ctx(t), "f", past, 0), "utimens")
	st := stat(t, s, "f")
	if !tsEqual(st.Atime, past[0]) || !tsEqual(st.Mtime, past[1]) {
		t.Errorf("times: got atime %v mtime %v, want %v %v", st.Atime, st.Mtime, past[0], past[1])
	}
	wantErrno(t, s.Utimens(ctx(t), "f", [2]fs.Timespec{{Nsec: 2_000_000_000}, {}}, 0), syscall.EINVAL, "utimens with nsec out of range")
}

func testUtimensOmit(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	must(t, s.Utimens(ctx(t), "f", past, 0), "utimens")
	later := fs.Timespec{Sec: 1_500_000_000, Nsec: 9}
	must(t, s.Utimens(ctx(t), "f", [2]fs.Timespec{{Nsec: utimeOmit}, later}, 0), "utimens atime omitted")
	st := stat(t, s, "f")
	if !tsEqual(st.Atime, past[0]) || !tsEqual(st.Mtime, later) {
		t.Errorf("after omitting atime: got atime %v mtime %v, want %v %v", st.Atime, st.Mtime, past[0], later)
	}
	must(t, s.Utimens(ctx(t), "f", [2]fs.Timespec{later, {Nsec: utimeOmit}}, 0), "utimens mtime omitted")
	st = stat(t, s, "f")
	if !tsEqual(st.Atime, later) || !tsEqual(st.Mtime, later) {
		t.Errorf("after omitting mtime: got atime %v mtime %v, want both %v", st.Atime, st.Mtime, later)
	}
}

func testUtimensNow(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	must(t, s.Utimens(ctx(t), "f", past, 0), "utimens")
	lo := time.Now().Add(-time.Minute).Unix()
	must(t, s.Utimens(ctx(t), "f", [2]fs.Timespec{{Nsec: utimeNow}, {Nsec: utimeNow}}, 0), "utimens now")
	hi := time.Now().Add(time.Minute).Unix()
	st := stat(t, s, "f")
	for _, ts := range []fs.Timespec{st.Atime, st.Mtime} {
		if ts.Sec < lo || ts.Sec > hi {
			t.Errorf("UTIME_NOW: got %v, want between %d and %d", ts, lo, hi)
		}
	}
}

func testUtimensNofollow(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	symlink(t, s, "f", "link")
	must(t, s.Utimens(ctx(t), "f", past, 0), "utimens target")
	linkTimes := [2]fs.Timespec{{Sec: 1_200_000_000}, {Sec: 1_200_000_001}}
	must(t, s.Utimens(ctx(t), "link", linkTimes, atSymlinkNofollow), "utimens nofollow")
	if lst := lstat(t, s, "link"); !tsEqual(lst.Mtime, linkTimes[1]) {
		t.Errorf("link mtime: got %v, want %v", lst.Mtime, linkTimes[1])
	}
	if st := stat(t, s, "f"); !tsEqual(st.Mtime, past[1]) {
		t.Errorf("target mtime changed by nofollow utimens: got %v, want %v", st.Mtime, past[1])
	}
	must(t, s.Utimens(ctx(t), "link", linkTimes, 0), "utimens follow")
	if st := stat(t, s, "f"); !tsEqual(st.Mtime, linkTimes[1]) {
		t.Errorf("target mtime after follow utimens: got %v, want %v", st.Mtime, linkTimes[1])
	}
}

func testBadFlags(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	wantErrno(t, s.Utimens(ctx(t), "f", past, 0x4000_0000), syscall.EINVAL, "utimens with unknown flags")
	wantErrno(t, s.Chown(ctx(t), "f", -1, -1, 0x4000_0000), syscall.EINVAL, "chown with unknown flags")
}

func testStatfs(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	st, err := s.Statfs(ctx(t), "d")
	must(t, err, "statfs")
	if st.Bsize <= 0 || st.Blocks == 0 || st.Bfree > st.Blocks || st.Bavail > st.Blocks || st.Namelen <= 0 {
		t.Errorf("implausible statfs: %+v", st)
	}
	if st.Namelen < 255 {
		t.Logf("namelen %d < 255", st.Namelen)
	}
	root, err := s.Statfs(ctx(t), "")
	must(t, err, "statfs root")
	// One filesystem: same type and block size. The size may move between
	// the two calls on a backend whose capacity is shared and live (a Ceph
	// cluster's total follows its OSDs' usage), but not by more than 1%.
	if root.Type != st.Type || root.Bsize != st.Bsize || !near(root.Blocks, st.Blocks, 0.01) {
		t.Errorf("statfs of root and subdir differ: %+v vs %+v", root, st)
	}
}

// near reports whether a and b differ by at most frac of the larger.
func near(a, b uint64, frac float64) bool {
	d := float64(max(a, b) - min(a, b))
	return d <= frac*float64(max(a, b))
}

func testAccess(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	for _, mode := range []uint32{unix.F_OK, unix.R_OK, unix.W_OK, unix.R_OK | unix.W_OK} {
		if err := s.Access(ctx(t), "f", mode); err != nil {
			t.Errorf("access(f, %d): %v", mode, err)
		}
	}
	wantErrno(t, s.Access(ctx(t), "f", unix.X_OK), syscall.EACCES, "X_OK on a 0644 file")
	must(t, s.Chmod(ctx(t), "f", 0o755), "chmod")
	must(t, s.Access(ctx(t), "f", unix.X_OK), "X_OK on a 0755 file")
	symlink(t, s, "missing", "dangling")
	wantErrno(t, s.Access(ctx(t), "dangling", unix.F_OK), syscall.ENOENT, "access through a dangling link")
	wantErrno(t, s.Access(ctx(t), "f", 0o100), syscall.EINVAL, "access with a bad mode")
	if os.Geteuid() != 0 {
		must(t, s.Chmod(ctx(t), "f", 0o000), "chmod 000")
		wantErrno(t, s.Access(ctx(t), "f", unix.R_OK), syscall.EACCES, "R_OK on a 0000 file as non-root")
	}
}

func testXattr(t *testing.T, s fs.Service) {
	x, ok := s.(fs.Xattrer)
	if !ok {
		t.Skip("the service does not implement fs.Xattrer")
	}
	c := ctx(t)
	writeFile(t, s, "f", nil, 0o644)
	must(t, x.Setxattr(c, "f", "user.one", []byte("value-1"), 0), "setxattr")
	must(t, x.Setxattr(c, "f", "user.two", []byte("2"), 0), "setxattr two")
	n, err := x.Getxattr(c, "f", "user.one", nil)
	if err != nil || n != 7 {
		t.Errorf("getxattr size query: got (%d, %v), want 7", n, err)
	}
	buf := make([]byte, 64)
	n, err = x.Getxattr(c, "f", "user.one", buf)
	if err != nil || string(buf[:n]) != "value-1" {
		t.Errorf("getxattr: got (%q, %v)", buf[:n], err)
	}
	_, err = x.Getxattr(c, "f", "user.one", make([]byte, 2))
	wantErrno(t, err, syscall.ERANGE, "getxattr into a short buffer")
	n, err = x.Listxattr(c, "f", buf)
	must(t, err, "listxattr")
	list := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	if !bytes.Contains(buf[:n], []byte("user.one\x00")) || !bytes.Contains(buf[:n], []byte("user.two\x00")) {
		t.Errorf("listxattr: got %q, want user.one and user.two", list)
	}
	wantErrno(t, x.Setxattr(c, "f", "user.one", []byte("x"), unix.XATTR_CREATE), syscall.EEXIST, "XATTR_CREATE on an existing attr")
	wantErrno(t, x.Setxattr(c, "f", "user.new", []byte("x"), unix.XATTR_REPLACE), syscall.ENODATA, "XATTR_REPLACE on a missing attr")
	must(t, x.Removexattr(c, "f", "user.one"), "removexattr")
	_, err = x.Getxattr(c, "f", "user.one", buf)
	wantErrno(t, err, syscall.ENODATA, "getxattr after remove")
	// lgetxattr semantics: a symlink's attributes are its own, not its target's.
	symlink(t, s, "f", "link")
	_, err = x.Getxattr(c, "link", "user.two", buf)
	wantErrno(t, err, syscall.ENODATA, "getxattr of a symlink does not follow it")
}
