package fstest

import (
	"bytes"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func init() {
	register(
		testCase{name: "open_create_mode", fn: testOpenCreateMode},
		testCase{name: "open_missing_enoent", fn: testOpenMissing},
		testCase{name: "open_missing_parent_enoent", fn: testOpenMissingParent},
		testCase{name: "open_excl_existing_eexist", fn: testOpenExclExisting},
		testCase{name: "open_excl_dangling_symlink_eexist", fn: testOpenExclDangling},
		testCase{name: "open_creat_through_dangling_symlink", fn: testOpenCreatDangling},
		testCase{name: "open_trunc", fn: testOpenTrunc},
		testCase{name: "open_append", fn: testOpenAppend},
		testCase{name: "open_rdonly_write_ebadf", fn: testOpenRdonlyWrite},
		testCase{name: "open_wronly_read_ebadf", fn: testOpenWronlyRead},
		testCase{name: "open_directory_on_file_enotdir", fn: testOpenDirectoryOnFile},
		testCase{name: "open_nofollow_symlink_eloop", fn: testOpenNofollow},
		testCase{name: "open_dir_rdonly_eisdir_io", fn: testOpenDirIO},
		testCase{name: "open_dir_for_write_eisdir", fn: testOpenDirWrite},
		testCase{name: "open_file_as_dir_component_enotdir", fn: testOpenFileComponent},
		testCase{name: "open_root", fn: testOpenRoot},
		testCase{name: "names_are_cleaned", fn: testNamesCleaned},
		testCase{name: "enametoolong", fn: testNameTooLong},
		testCase{name: "data_survives_close_reopen", fn: testSurvivesReopen},
		testCase{name: "close_twice_fails", fn: testCloseTwice},
		testCase{name: "errors_are_path_errors", fn: testErrorsArePathErrors},
	)
}

func testOpenCreateMode(t *testing.T, s fs.Service) {
	for _, mode := range []uint32{0o600, 0o640, 0o750, 0o400} {
		name := fmt.Sprintf("f%o", mode)
		f, err := s.Open(ctx(t), name, unix.O_CREAT|unix.O_RDWR, mode)
		must(t, err, "create "+name)
		st, err := f.Stat()
		must(t, err, "fstat")
		must(t, f.Close(), "close")
		if !st.IsRegular() || perm(st) != mode {
			t.Errorf("%s: got mode %o, want regular file %o", name, st.Mode, mode)
		}
		if st.Size != 0 {
			t.Errorf("%s: got size %d, want 0", name, st.Size)
		}
		if got := stat(t, s, name); got.Ino != st.Ino || got.Mode != st.Mode {
			t.Errorf("%s: Stat got ino %d mode %o, fstat ino %d mode %o", name, got.Ino, got.Mode, st.Ino, st.Mode)
		}
	}
}

func testOpenMissing(t *testing.T, s fs.Service) {
	_, err := s.Open(ctx(t), "nope", unix.O_RDONLY, 0)
	wantErrno(t, err, syscall.ENOENT, "open missing")
	_, err = s.Stat(ctx(t), "nope")
	wantErrno(t, err, syscall.ENOENT, "stat missing")
}

func testOpenMissingParent(t *testing.T, s fs.Service) {
	_, err := s.Open(ctx(t), "no/such/file", unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErrno(t, err, syscall.ENOENT, "create in missing dir")
}

func testOpenExclExisting(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("keep"), 0o644)
	_, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY|unix.O_TRUNC, 0o644)
	wantErrno(t, err, syscall.EEXIST, "O_EXCL on existing file")
	if got := readFile(t, s, "f"); string(got) != "keep" {
		t.Errorf("file content after failed O_EXCL: got %q, want %q", got, "keep")
	}
	mkdir(t, s, "d")
	_, err = s.Open(ctx(t), "d", unix.O_CREAT|unix.O_EXCL|unix.O_RDONLY, 0o644)
	wantErrno(t, err, syscall.EEXIST, "O_EXCL on existing dir")
}

func testOpenExclDangling(t *testing.T, s fs.Service) {
	symlink(t, s, "target", "link")
	_, err := s.Open(ctx(t), "link", unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
	wantErrno(t, err, syscall.EEXIST, "O_CREAT|O_EXCL on dangling symlink")
	if exists(t, s, "target") {
		t.Errorf("O_CREAT|O_EXCL through a dangling symlink created its target")
	}
}

func testOpenCreatDangling(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	symlink(t, s, "d/target", "link")
	f, err := s.Open(ctx(t), "link", unix.O_CREAT|unix.O_WRONLY, 0o644)
	must(t, err, "O_CREAT through dangling symlink")
	_, err = f.Pwrite([]byte("via link"), 0)
	must(t, err, "pwrite")
	must(t, f.Close(), "close")
	if got := readFile(t, s, "d/target"); string(got) != "via link" {
		t.Errorf("target content: got %q, want %q", got, "via link")
	}
	if st := lstat(t, s, "link"); !st.IsSymlink() {
		t.Errorf("link replaced: got mode %o, want a symlink", st.Mode)
	}
}

func testOpenTrunc(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("0123456789"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_WRONLY|unix.O_TRUNC, 0)
	must(t, err, "open O_TRUNC")
	st, err := f.Stat()
	must(t, err, "fstat")
	must(t, f.Close(), "close")
	if st.Size != 0 {
		t.Errorf("size after O_TRUNC: got %d, want 0", st.Size)
	}
}

func testOpenAppend(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("abc"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_WRONLY|unix.O_APPEND, 0)
	must(t, err, "open O_APPEND")
	for _, chunk := range []string{"de", "fgh"} {
		n, err := f.Pwrite([]byte(chunk), 0)
		if err != nil || n != len(chunk) {
			t.Fatalf("append pwrite: got (%d, %v), want (%d, nil)", n, err, len(chunk))
		}
	}
	must(t, f.Close(), "close")
	if got := readFile(t, s, "f"); string(got) != "abcdefgh" {
		t.Errorf("content after appends at offset 0: got %q, want %q", got, "abcdefgh")
	}
}

func testOpenRdonlyWrite(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("abc"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "open")
	defer f.Close()
	_, err = f.Pwrite([]byte("x"), 0)
	wantErrno(t, err, syscall.EBADF, "pwrite on O_RDONLY file")
	wantOneOf(t, f.Truncate(0), "ftruncate on O_RDONLY file", syscall.EBADF, syscall.EINVAL)
}

func testOpenWronlyRead(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("abc"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_WRONLY, 0)
	must(t, err, "open")
	defer f.Close()
	_, err = f.Pread(make([]byte, 3), 0)
	wantErrno(t, err, syscall.EBADF, "pread on O_WRONLY file")
}

func testOpenDirectoryOnFile(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	_, err := s.Open(ctx(t), "f", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	wantErrno(t, err, syscall.ENOTDIR, "O_DIRECTORY on a file")
	_, err = s.OpenDir(ctx(t), "f")
	wantErrno(t, err, syscall.ENOTDIR, "OpenDir on a file")
}

func testOpenNofollow(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("x"), 0o644)
	symlink(t, s, "f", "link")
	_, err := s.Open(ctx(t), "link", unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	wantErrno(t, err, syscall.ELOOP, "O_NOFOLLOW on symlink")
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY|unix.O_NOFOLLOW, 0)
	must(t, err, "O_NOFOLLOW on regular file")
	must(t, f.Close(), "close")
}

func testOpenDirIO(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	for _, flags := range []int{unix.O_RDONLY, unix.O_RDONLY | unix.O_DIRECTORY} {
		f, err := s.Open(ctx(t), "d", flags, 0)
		must(t, err, "open dir")
		st, err := f.Stat()
		must(t, err, "fstat dir")
		if !st.IsDir() {
			t.Errorf("fstat of dir: got mode %o", st.Mode)
		}
		must(t, f.Sync(false), "fsync dir")
		_, err = f.Pread(make([]byte, 10), 0)
		wantErrno(t, err, syscall.EISDIR, "pread on dir")
		must(t, f.Close(), "close dir")
	}
}

func testOpenDirWrite(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	_, err := s.Open(ctx(t), "d", unix.O_WRONLY, 0)
	wantErrno(t, err, syscall.EISDIR, "O_WRONLY on dir")
	_, err = s.Open(ctx(t), "d", unix.O_RDWR|unix.O_CREAT, 0o644)
	wantErrno(t, err, syscall.EISDIR, "O_RDWR|O_CREAT on dir")
}

func testOpenFileComponent(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	_, err := s.Open(ctx(t), "f/x", unix.O_RDONLY, 0)
	wantErrno(t, err, syscall.ENOTDIR, "open f/x with f a file")
	_, err = s.Open(ctx(t), "f/x", unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErrno(t, err, syscall.ENOTDIR, "create f/x with f a file")
	_, err = s.Stat(ctx(t), "f/x")
	wantErrno(t, err, syscall.ENOTDIR, "stat f/x with f a file")
	wantErrno(t, s.Mkdir(ctx(t), "f/x", 0o755), syscall.ENOTDIR, "mkdir f/x with f a file")
}

func testOpenRoot(t *testing.T, s fs.Service) {
	for _, name := range []string{"", "/", ".", "//"} {
		f, err := s.Open(ctx(t), name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		must(t, err, "open root "+name)
		st, err := f.Stat()
		must(t, err, "fstat root")
		must(t, f.Close(), "close root")
		if !st.IsDir() {
			t.Errorf("root %q: got mode %o, want a directory", name, st.Mode)
		}
	}
	wantErrno(t, s.Mkdir(ctx(t), "/", 0o755), syscall.EEXIST, "mkdir root")
}

func testNamesCleaned(t *testing.T, s fs.Service) {
	mkdir(t, s, "a")
	writeFile(t, s, "a/c", []byte("c"), 0o644)
	want := stat(t, s, "a/c")
	for _, name := range []string{"/a/c", "a//c", "./a/./c", "a/b/../c", "../a/c", "../../../a/c", "a/c/", "/../a/../a/c"} {
		got, err := s.Stat(ctx(t), name)
		if name == "a/c/" {
			// A trailing slash is cleaned away before the backend sees it.
			if err != nil {
				t.Errorf("stat %q: %v", name, err)
			}
			continue
		}
		if err != nil || got.Ino != want.Ino {
			t.Errorf("stat %q: got (ino %d, %v), want ino %d", name, got.Ino, err, want.Ino)
		}
	}
	root := stat(t, s, "")
	if got := stat(t, s, "../../.."); got.Ino != root.Ino {
		t.Errorf("stat ../../..: got ino %d, want the root's %d", got.Ino, root.Ino)
	}
}

func testNameTooLong(t *testing.T, s fs.Service) {
	long := strings.Repeat("x", 256)
	_, err := s.Open(ctx(t), long, unix.O_CREAT|unix.O_WRONLY, 0o644)
	wantErrno(t, err, syscall.ENAMETOOLONG, "create 256-byte name")
	wantErrno(t, s.Mkdir(ctx(t), long, 0o755), syscall.ENAMETOOLONG, "mkdir 256-byte name")
	mkdir(t, s, "d")
	_, err = s.Stat(ctx(t), "d/"+long)
	wantErrno(t, err, syscall.ENAMETOOLONG, "stat with a 256-byte component")
	ok := strings.Repeat("y", 255)
	writeFile(t, s, ok, []byte("z"), 0o644)
	if got := readFile(t, s, ok); string(got) != "z" {
		t.Errorf("255-byte name: got %q, want %q", got, "z")
	}
}

func testSurvivesReopen(t *testing.T, s fs.Service) {
	data := pattern(300_000, 3)
	writeFile(t, s, "f", data, 0o644)
	if got := readFile(t, s, "f"); !bytes.Equal(got, data) {
		t.Errorf("reopened data differs: got %d bytes, want %d", len(got), len(data))
	}
	if st := stat(t, s, "f"); st.Size != int64(len(data)) {
		t.Errorf("size: got %d, want %d", st.Size, len(data))
	}
}

func testCloseTwice(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", nil, 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "open")
	must(t, f.Close(), "first close")
	wantErrno(t, f.Close(), syscall.EBADF, "second close")
	mkdir(t, s, "d")
	d, err := s.OpenDir(ctx(t), "d")
	must(t, err, "opendir")
	must(t, d.Close(), "first closedir")
	wantErrno(t, d.Close(), syscall.EBADF, "second closedir")
}

func testErrorsArePathErrors(t *testing.T, s fs.Service) {
	c := ctx(t)
	_, err := s.Lstat(c, "missing")
	wantErrno(t, err, syscall.ENOENT, "lstat")
	wantErrno(t, s.Rmdir(c, "missing"), syscall.ENOENT, "rmdir")
	wantErrno(t, s.Unlink(c, "missing"), syscall.ENOENT, "unlink")
	wantErrno(t, s.Rename(c, "missing", "x", 0), syscall.ENOENT, "rename")
	_, err = s.OpenDir(c, "missing")
	wantErrno(t, err, syscall.ENOENT, "opendir")
	_, err = s.Readlink(c, "missing")
	wantErrno(t, err, syscall.ENOENT, "readlink")
	wantErrno(t, s.Chmod(c, "missing", 0o644), syscall.ENOENT, "chmod")
	wantErrno(t, s.Truncate(c, "missing", 0), syscall.ENOENT, "truncate")
	wantErrno(t, s.Access(c, "missing", 0), syscall.ENOENT, "access")
	_, err = s.Statfs(c, "missing")
	wantErrno(t, err, syscall.ENOENT, "statfs")
	wantErrno(t, s.Utimens(c, "missing", [2]fs.Timespec{{Nsec: utimeNow}, {Nsec: utimeNow}}, 0), syscall.ENOENT, "utimens")
}
