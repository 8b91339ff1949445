package fstest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/internal/testenv"
)

// naive is a deliberately insecure service: it joins names to the host root
// with filepath.Join and lets the host kernel follow symlinks. The escape
// suite must catch it; TestRunEscapeCatchesNaive checks that it does.
type naive struct {
	fs.Unimplemented
	root string
}

type naiveFile struct{ f *os.File }

func (n *naive) p(name string) string { return filepath.Join(n.root, name) }

func (n *naive) Open(_ context.Context, name string, flags int, mode uint32) (fs.File, error) {
	f, err := os.OpenFile(n.p(name), flags, os.FileMode(mode))
	if err != nil {
		return nil, err
	}
	return naiveFile{f}, nil
}

func (n *naive) Stat(_ context.Context, name string) (fs.Stat, error) {
	var st unix.Stat_t
	if err := unix.Stat(n.p(name), &st); err != nil {
		return fs.Stat{}, fs.PathError("stat", name, err.(unix.Errno))
	}
	return fs.Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size}, nil
}

func (n *naive) Lstat(_ context.Context, name string) (fs.Stat, error) {
	var st unix.Stat_t
	if err := unix.Lstat(n.p(name), &st); err != nil {
		return fs.Stat{}, fs.PathError("lstat", name, err.(unix.Errno))
	}
	return fs.Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size}, nil
}

func (n *naive) Mkdir(_ context.Context, name string, mode uint32) error {
	return os.Mkdir(n.p(name), os.FileMode(mode))
}
func (n *naive) Unlink(_ context.Context, name string) error { return unix.Unlink(n.p(name)) }
func (n *naive) Rmdir(_ context.Context, name string) error  { return unix.Rmdir(n.p(name)) }
func (n *naive) Rename(_ context.Context, a, b string, _ uint32) error {
	return os.Rename(n.p(a), n.p(b))
}
func (n *naive) Symlink(_ context.Context, target, name string) error {
	return os.Symlink(target, n.p(name))
}
func (n *naive) Link(_ context.Context, a, b string) error { return os.Link(n.p(a), n.p(b)) }
func (n *naive) Chmod(_ context.Context, name string, mode uint32) error {
	return unix.Chmod(n.p(name), mode)
}
func (n *naive) Truncate(_ context.Context, name string, size int64) error {
	return os.Truncate(n.p(name), size)
}

func (n *naive) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	ents, err := os.ReadDir(n.p(name))
	if err != nil {
		return nil, err
	}
	d := &naiveDir{}
	for _, e := range ents {
		info, _ := e.Info()
		var ino uint64
		if info != nil {
			ino = info.Sys().(*syscall.Stat_t).Ino
		}
		d.ents = append(d.ents, fs.Dirent{Name: e.Name(), Ino: ino})
	}
	return d, nil
}

type naiveDir struct{ ents []fs.Dirent }

func (d *naiveDir) ReadDir(int) ([]fs.Dirent, error) {
	out := d.ents
	d.ents = nil
	return out, nil
}
func (d *naiveDir) Close() error { return nil }

func (f naiveFile) Pread(p []byte, off int64) (int, error) {
	n, err := f.f.ReadAt(p, off)
	if errors.Is(err, io.EOF) {
		err = nil
	}
	return n, err
}
func (f naiveFile) Pwrite(p []byte, off int64) (int, error) { return f.f.WriteAt(p, off) }
func (f naiveFile) Stat() (fs.Stat, error) {
	var st unix.Stat_t
	err := unix.Fstat(int(f.f.Fd()), &st)
	return fs.Stat{Dev: st.Dev, Ino: st.Ino, Mode: st.Mode, Size: st.Size}, err
}
func (f naiveFile) Truncate(size int64) error { return f.f.Truncate(size) }
func (f naiveFile) Sync(bool) error           { return f.f.Sync() }
func (f naiveFile) Allocate(mode uint32, off, n int64) error {
	return unix.Fallocate(int(f.f.Fd()), mode, off, n)
}
func (f naiveFile) Close() error { return f.f.Close() }

// naiveJailEnv names the directory the child process chroots into before it
// runs the escape suite on the insecure service, so that whatever the naive
// service reaches "outside" is still inside a throw-away directory.
const naiveJailEnv = "FSTEST_NAIVE_JAIL"

// TestNaiveEscape runs the escape suite against the insecure service; it is
// only meant to run inside the child process of TestRunEscapeCatchesNaive.
func TestNaiveEscape(t *testing.T) {
	jail := os.Getenv(naiveJailEnv)
	if jail == "" {
		t.Skip("runs only as the child of TestRunEscapeCatchesNaive")
	}
	// Never let the insecure service loose on the real host.
	if err := syscall.Chroot(jail); err != nil {
		t.Fatalf("chroot %s: %v", jail, err)
	}
	if err := os.Chdir("/"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TMPDIR", "/tmp")
	RunEscape(t, func(t *testing.T) (fs.Service, string) {
		base := t.TempDir()
		root, outside := filepath.Join(base, "r", "root"), filepath.Join(base, "outside")
		for _, d := range []string{root, outside} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		return &naive{root: root}, outside
	})
}

// TestRunEscapeCatchesNaive proves the escape suite can fail: run against a
// service that resolves names on the host, it must report escapes.
func TestRunEscapeCatchesNaive(t *testing.T) {
	testenv.RequireRoot(t, "the insecure service runs chrooted in a throw-away directory")
	jail := t.TempDir()
	if err := os.Mkdir(filepath.Join(jail, "tmp"), 0o1777); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestNaiveEscape$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), naiveJailEnv+"="+jail)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("escape suite passed an insecure service; output:\n%s", out)
	}
	for _, want := range []string{
		"dotdot_names", "absolute_symlink_to_outside", "rename_out_of_root",
		"metadata_through_links", "creat_through_dangling_link",
	} {
		if !bytes.Contains(out, []byte("--- FAIL: TestNaiveEscape/"+want)) {
			t.Errorf("escape case %s did not catch the insecure service", want)
		}
	}
	if !bytes.Contains(out, []byte("ESCAPE:")) {
		t.Errorf("no ESCAPE report in the child output:\n%s", out)
	}
}
