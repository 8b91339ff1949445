package local

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func newTest(t *testing.T, opts ...Option) (*Local, string) {
	t.Helper()
	dir := t.TempDir()
	l, err := New(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, dir
}

// TestODirectEnabled checks that WithODirect really puts O_DIRECT on the
// descriptor (on a file system that supports it) and that only unaligned
// writes open the buffered twin.
func TestODirectEnabled(t *testing.T) {
	l, dir := newTest(t, WithODirect())
	probe := filepath.Join(dir, "probe")
	if err := os.WriteFile(probe, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, probe, 0, unix.STATX_DIOALIGN, &stx); err != nil || stx.Dio_offset_align == 0 {
		t.Skipf("the file system of %s reports no direct I/O support (statx: %v)", dir, err)
	}
	ff, err := l.Open(t.Context(), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	f := ff.(*File)
	fl, err := unix.FcntlInt(uintptr(f.fd), unix.F_GETFL, 0)
	if err != nil || !f.direct || fl&unix.O_DIRECT == 0 {
		t.Fatalf("O_DIRECT not in effect: direct=%v flags=%#x err=%v", f.direct, fl, err)
	}
	block := alignedBuf(int(f.offAlign)*4, f.memAlign)
	copy(block, bytes.Repeat([]byte("D"), len(block)))
	if _, err := f.Pwrite(block, 0); err != nil {
		t.Fatal(err)
	}
	if f.bufFd != -1 {
		t.Errorf("aligned write opened the buffered descriptor")
	}
	if _, err := f.Pwrite([]byte("xyz"), 5); err != nil {
		t.Fatal(err)
	}
	if f.bufFd < 0 {
		t.Errorf("unaligned write did not go through the buffered descriptor")
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	want := append([]byte(nil), block...)
	copy(want[5:], "xyz")
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("host file content differs (err %v)", err)
	}
	// A directory opened with WithODirect stays a plain descriptor.
	if err := l.Mkdir(t.Context(), "d", 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := l.Open(t.Context(), "d", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d.(*File).direct {
		t.Errorf("directory marked for direct I/O")
	}
	d.Close()
}

func TestReadOnly(t *testing.T) {
	l, dir := newTest(t, WithReadOnly())
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("ro"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := t.Context()
	checks := map[string]error{
		"mkdir":    l.Mkdir(c, "x", 0o755),
		"rmdir":    l.Rmdir(c, "d"),
		"unlink":   l.Unlink(c, "f"),
		"rename":   l.Rename(c, "f", "g", 0),
		"symlink":  l.Symlink(c, "f", "s"),
		"link":     l.Link(c, "f", "h"),
		"chmod":    l.Chmod(c, "f", 0o600),
		"chown":    l.Chown(c, "f", 1, 1, 0),
		"utimens":  l.Utimens(c, "f", [2]fs.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}, 0),
		"truncate": l.Truncate(c, "f", 0),
		"access W": l.Access(c, "f", unix.W_OK),
		"setxattr": l.Setxattr(c, "f", "user.x", []byte("1"), 0),
		"rmxattr":  l.Removexattr(c, "f", "user.x"),
	}
	for _, flags := range []int{unix.O_WRONLY, unix.O_RDWR, unix.O_RDONLY | unix.O_CREAT, unix.O_RDONLY | unix.O_TRUNC} {
		_, err := l.Open(c, "f", flags, 0o644)
		checks["open "+string(rune('0'+flags%8))] = err
	}
	for what, err := range checks {
		if fs.Errno(err) != syscall.EROFS {
			t.Errorf("%s on a read-only service: got %v, want EROFS", what, err)
		}
	}
	f, err := l.Open(c, "f", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatalf("read-only open: %v", err)
	}
	buf := make([]byte, 8)
	if n, err := f.Pread(buf, 0); err != nil || string(buf[:n]) != "ro" {
		t.Errorf("read: got (%q, %v)", buf[:n], err)
	}
	f.Close()
	// O_TMPFILE shares the O_DIRECTORY bit: a plain directory open must
	// still work on a read-only service, and O_TMPFILE must not.
	d, err := l.Open(c, "d", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Errorf("O_DIRECTORY open on a read-only service: got %v, want success", err)
	} else {
		d.Close()
	}
	if _, err := l.Open(c, "d", unix.O_RDWR|unix.O_TMPFILE, 0o600); fs.Errno(err) != syscall.EROFS {
		t.Errorf("O_TMPFILE on a read-only service: got %v, want EROFS", err)
	}
	if err := l.Access(c, "f", unix.R_OK); err != nil {
		t.Errorf("access R_OK: %v", err)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(got) != "ro" {
		t.Errorf("host file changed: %q %v", got, err)
	}
}

func TestClosedService(t *testing.T) {
	l, _ := newTest(t)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); fs.Errno(err) != syscall.EBADF {
		t.Errorf("second Close: got %v, want EBADF", err)
	}
	c := t.Context()
	if _, err := l.Stat(c, "x"); fs.Errno(err) != syscall.EBADF {
		t.Errorf("Stat after Close: got %v, want EBADF", err)
	}
	if _, err := l.Open(c, "x", unix.O_RDONLY, 0); fs.Errno(err) != syscall.EBADF {
		t.Errorf("Open after Close: got %v, want EBADF", err)
	}
	if err := l.Mkdir(c, "x", 0o755); fs.Errno(err) != syscall.EBADF {
		t.Errorf("Mkdir after Close: got %v, want EBADF", err)
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := New(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New on a missing dir: got %v, want ENOENT", err)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(file); fs.Errno(err) != syscall.ENOTDIR {
		t.Errorf("New on a file: got %v, want ENOTDIR", err)
	}
}

// TestErrorsNameCallerPath checks the error convention: *os.PathError with
// the name as the caller passed it and a bare syscall.Errno.
func TestErrorsNameCallerPath(t *testing.T) {
	l, _ := newTest(t)
	_, err := l.Stat(t.Context(), "/a/../missing")
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Path != "/a/../missing" || pe.Op != "stat" {
		t.Fatalf("got %#v, want *os.PathError{Op: stat, Path: /a/../missing}", err)
	}
	if _, ok := pe.Err.(syscall.Errno); !ok || pe.Err != syscall.ENOENT {
		t.Errorf("Err: got %T %v, want syscall.ENOENT", pe.Err, pe.Err)
	}
}
