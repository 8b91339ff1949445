package fstest

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

const (
	atSymlinkNofollow = unix.AT_SYMLINK_NOFOLLOW
	utimeNow          = unix.UTIME_NOW
	utimeOmit         = unix.UTIME_OMIT
)

// wantErrno fails unless err carries errno want, inside an *os.PathError.
func wantErrno(t testing.TB, err error, want syscall.Errno, what string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: got success, want %v (%d)", what, want, int(want))
		return
	}
	if got := fs.Errno(err); got != want {
		t.Errorf("%s: got error %v (errno %d), want %v (%d)", what, err, int(got), want, int(want))
		return
	}
	var pe *os.PathError
	if !errors.As(err, &pe) {
		t.Errorf("%s: error %v (%T) is not an *os.PathError", what, err, err)
	}
}

// wantOneOf fails unless err carries one of the errnos.
func wantOneOf(t testing.TB, err error, what string, want ...syscall.Errno) {
	t.Helper()
	got := fs.Errno(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("%s: got %v (errno %d), want one of %v", what, err, int(got), want)
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// writeFile creates (or truncates) name with data and mode.
func writeFile(t testing.TB, s fs.Service, name string, data []byte, mode uint32) {
	t.Helper()
	f, err := s.Open(ctx(t), name, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, mode)
	must(t, err, "create "+name)
	if len(data) > 0 {
		n, err := f.Pwrite(data, 0)
		if err != nil || n != len(data) {
			t.Fatalf("pwrite %s: got (%d, %v), want (%d, nil)", name, n, err, len(data))
		}
	}
	must(t, f.Close(), "close "+name)
}

// ReadFile reads the whole of name through s, failing t on an error (for
// tests of stacks and services outside this suite).
func ReadFile(t testing.TB, s fs.Service, name string) []byte {
	t.Helper()
	return readFile(t, s, name)
}

// WriteFile creates (or truncates) name through s with data.
func WriteFile(t testing.TB, s fs.Service, name string, data []byte) {
	t.Helper()
	writeFile(t, s, name, data, 0o644)
}

// readFile reads the whole of name.
func readFile(t testing.TB, s fs.Service, name string) []byte {
	t.Helper()
	f, err := s.Open(ctx(t), name, unix.O_RDONLY, 0)
	must(t, err, "open "+name)
	defer f.Close()
	return readAll(t, f, name)
}

func readAll(t testing.TB, f fs.File, name string) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.Pread(buf, off)
		must(t, err, "pread "+name)
		out = append(out, buf[:n]...)
		if n < len(buf) {
			return out
		}
		off += int64(n)
	}
}

func mkdir(t testing.TB, s fs.Service, name string) {
	t.Helper()
	must(t, s.Mkdir(ctx(t), name, 0o755), "mkdir "+name)
}

func symlink(t testing.TB, s fs.Service, target, name string) {
	t.Helper()
	must(t, s.Symlink(ctx(t), target, name), "symlink "+name+" -> "+target)
}

func stat(t testing.TB, s fs.Service, name string) fs.Stat {
	t.Helper()
	st, err := s.Stat(ctx(t), name)
	must(t, err, "stat "+name)
	return st
}

func lstat(t testing.TB, s fs.Service, name string) fs.Stat {
	t.Helper()
	st, err := s.Lstat(ctx(t), name)
	must(t, err, "lstat "+name)
	return st
}

func exists(t testing.TB, s fs.Service, name string) bool {
	t.Helper()
	_, err := s.Lstat(ctx(t), name)
	if err != nil && fs.Errno(err) != syscall.ENOENT {
		t.Fatalf("lstat %s: %v", name, err)
	}
	return err == nil
}

// listDir returns every entry of name, read in chunks of n.
func listDir(t testing.TB, s fs.Service, name string, n int) []fs.Dirent {
	t.Helper()
	d, err := s.OpenDir(ctx(t), name)
	must(t, err, "opendir "+name)
	defer d.Close()
	var out []fs.Dirent
	for {
		ents, err := d.ReadDir(n)
		must(t, err, "readdir "+name)
		if n > 0 && len(ents) > n {
			t.Fatalf("ReadDir(%d) returned %d entries", n, len(ents))
		}
		if len(ents) == 0 {
			return out
		}
		out = append(out, ents...)
		if n <= 0 {
			ents, err := d.ReadDir(n)
			must(t, err, "readdir at end "+name)
			if len(ents) != 0 {
				t.Fatalf("ReadDir(%d) after reading all returned %d more entries", n, len(ents))
			}
			return out
		}
	}
}

func names(ents []fs.Dirent) map[string]fs.Dirent {
	m := make(map[string]fs.Dirent, len(ents))
	for _, e := range ents {
		m[e.Name] = e
	}
	return m
}

func perm(st fs.Stat) uint32 { return st.Mode & 0o7777 }

func tsEqual(a, b fs.Timespec) bool { return a.Sec == b.Sec && a.Nsec == b.Nsec }

func tsLess(a, b fs.Timespec) bool { return a.Sec < b.Sec || (a.Sec == b.Sec && a.Nsec < b.Nsec) }

// pattern returns n deterministic bytes that differ with seed.
func pattern(n int, seed byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7+i/251) ^ seed
	}
	return p
}
