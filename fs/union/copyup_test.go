package union_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/union"
)

func TestCopyUpPreservesContentModeOwnerTimes(t *testing.T) {
	e := newEnv(t, 2, func(d []string) {
		seedAttrFile(t, filepath.Join(d[1], "f"), "lower content")
	}, nil)
	want := hostStat(t, e.lower("f"))
	f, err := e.u.Open(e.ctx, "f", unix.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	sameAttrs(t, e.upper("f"), want) // before reading moves the atime
	if got, _ := os.ReadFile(e.upper("f")); string(got) != "lower content" {
		t.Errorf("upper content: got %q, want %q", got, "lower content")
	}
	e.noTemporaries()
}

func TestCopyUpSymlinkStaysSymlink(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, 2, func(d []string) {
		must(t, os.Symlink("target/of/link", filepath.Join(d[1], "l")))
		must(t, os.Lchown(filepath.Join(d[1], "l"), 42, 43))
		must(t, unix.Lutimes(filepath.Join(d[1], "l"), []unix.Timeval{unix.NsecToTimeval(oldTime2.UnixNano()), unix.NsecToTimeval(oldTime.UnixNano())}))
	}, nil)
	// Utimens of the link itself (UTIME_OMIT both) forces a copy-up of the link.
	want := hostStat(t, e.lower("l"))
	omit := fs.Timespec{Nsec: unix.UTIME_OMIT}
	must(t, e.u.Utimens(e.ctx, "l", [2]fs.Timespec{omit, omit}, unix.AT_SYMLINK_NOFOLLOW))
	sameAttrs(t, e.upper("l"), want) // before readlink moves the atime
	target, err := os.Readlink(e.upper("l"))
	if err != nil {
		t.Fatalf("upper l is not a symlink: %v", err)
	}
	if target != "target/of/link" {
		t.Errorf("upper link target: got %q, want %q", target, "target/of/link")
	}
}

func TestCopyUpParentDirsKeepAttrs(t *testing.T) {
	requireRoot(t)
	e := newEnv(t, 2, func(d []string) {
		writeHost(t, filepath.Join(d[1], "a", "b", "f"), "x", 0o644)
		for _, p := range []string{filepath.Join(d[1], "a", "b"), filepath.Join(d[1], "a")} {
			must(t, os.Chmod(p, 0o751))
			must(t, os.Chown(p, 77, 88))
			must(t, os.Chtimes(p, oldTime2, oldTime))
		}
	}, nil)
	want := map[string]unix.Stat_t{"a": hostStat(t, e.lower("a")), "a/b": hostStat(t, e.lower("a/b"))}
	must(t, e.u.Chmod(e.ctx, "a/b/f", 0o600))
	for p, w := range want {
		sameAttrs(t, e.upper(p), w)
	}
	if st := hostStat(t, e.upper("a/b/f")); st.Mode&0o7777 != 0o600 {
		t.Errorf("chmod after copy-up: got mode %o, want 600", st.Mode&0o7777)
	}
}

// TestCopyUpOnEveryMutatingCall checks that each mutating call copies the
// lower file up before acting, and acts on the copy only.
func TestCopyUpOnEveryMutatingCall(t *testing.T) {
	omit := fs.Timespec{Nsec: unix.UTIME_OMIT}
	cases := []struct {
		name     string
		op       func(e *env) error
		wantData string // upper content after the call
	}{
		{"open_wronly", func(e *env) error { return closeOpen(e, unix.O_WRONLY) }, "lower data"},
		{"open_rdwr", func(e *env) error { return closeOpen(e, unix.O_RDWR) }, "lower data"},
		{"open_trunc", func(e *env) error { return closeOpen(e, unix.O_WRONLY|unix.O_TRUNC) }, ""},
		{"open_append", func(e *env) error { return closeOpen(e, unix.O_WRONLY|unix.O_APPEND) }, "lower data"},
		{"open_creat_existing", func(e *env) error { return closeOpen(e, unix.O_WRONLY|unix.O_CREAT) }, "lower data"},
		{"truncate", func(e *env) error { return e.u.Truncate(e.ctx, "f", 5) }, "lower"},
		{"truncate_zero", func(e *env) error { return e.u.Truncate(e.ctx, "f", 0) }, ""},
		{"chmod", func(e *env) error { return e.u.Chmod(e.ctx, "f", 0o600) }, "lower data"},
		{"chown", func(e *env) error { return e.u.Chown(e.ctx, "f", 1, 2, 0) }, "lower data"},
		{"utimens", func(e *env) error { return e.u.Utimens(e.ctx, "f", [2]fs.Timespec{omit, {Sec: 5}}, 0) }, "lower data"},
		{"link", func(e *env) error { return e.u.Link(e.ctx, "f", "f2") }, "lower data"},
		{"setxattr", func(e *env) error {
			x, ok := fs.Service(e.u).(fs.Xattrer)
			if !ok {
				t.Skip("no xattrs")
			}
			return x.Setxattr(e.ctx, "f", "user.k", []byte("v"), 0)
		}, "lower data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2, func(d []string) { seedAttrFile(t, filepath.Join(d[1], "f"), "lower data") }, nil)
			if err := tc.op(e); err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			got, err := os.ReadFile(e.upper("f"))
			if err != nil {
				t.Fatalf("no copy in the upper branch after %s: %v", tc.name, err)
			}
			if string(got) != tc.wantData {
				t.Errorf("upper content: got %q, want %q", got, tc.wantData)
			}
			if st := hostStat(t, e.upper("f")); st.Uid != 1234 && tc.name != "chown" {
				t.Errorf("owner lost in copy-up: got uid %d, want 1234", st.Uid)
			}
			e.noTemporaries()
		})
	}
}

func closeOpen(e *env, flags int) error {
	f, err := e.u.Open(e.ctx, "f", flags, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func TestReadOnlyOpenDoesNotCopyUp(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "x", 0o644) }, nil)
	if got := e.read("f"); got != "x" {
		t.Errorf("read: got %q, want %q", got, "x")
	}
	if _, err := e.u.Stat(e.ctx, "f"); err != nil {
		t.Fatal(err)
	}
	if e.exists(e.upper("f")) {
		t.Error("read-only open or stat copied the file up")
	}
}

func TestCopyUpSparseKeepsHoles(t *testing.T) {
	const size = 64 << 20
	e := newEnv(t, 2, func(d []string) {
		p := filepath.Join(d[1], "sparse")
		f, err := os.Create(p)
		must(t, err)
		_, err = f.WriteAt([]byte("head"), 0)
		must(t, err)
		_, err = f.WriteAt([]byte("tail"), size-4)
		must(t, err)
		must(t, f.Close())
	}, nil)
	must(t, e.u.Chmod(e.ctx, "sparse", 0o600))
	st := hostStat(t, e.upper("sparse"))
	if st.Size != size {
		t.Errorf("size after copy-up: got %d, want %d", st.Size, size)
	}
	lst := hostStat(t, e.lower("sparse"))
	// Two 1 MiB chunks hold data; the rest must stay a hole.
	if limit := lst.Blocks + 2*(1<<20)/512; st.Blocks > limit {
		t.Errorf("copy-up filled the holes: got %d blocks, want at most %d", st.Blocks, limit)
	}
	got, err := os.ReadFile(e.upper("sparse"))
	must(t, err)
	want, err := os.ReadFile(e.lower("sparse"))
	must(t, err)
	if !bytes.Equal(got, want) {
		t.Error("sparse copy differs from the lower file")
	}
}

func TestReadOnlyHandleKeepsLowerDataAfterCopyUp(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "old!", 0o644) }, nil)
	old, err := e.u.Open(e.ctx, "f", unix.O_RDONLY, 0)
	must(t, err)
	defer old.Close()
	e.write("f", unix.O_WRONLY, "new!")
	buf := make([]byte, 4)
	n, err := old.Pread(buf, 0)
	must(t, err)
	if string(buf[:n]) != "old!" {
		t.Errorf("handle opened before the copy-up: got %q, want %q", buf[:n], "old!")
	}
	if got := e.read("f"); got != "new!" {
		t.Errorf("new open: got %q, want %q", got, "new!")
	}
}

func TestInodeStableWithinBranchChangesOnCopyUp(t *testing.T) {
	e := newEnv(t, 2, func(d []string) { writeHost(t, filepath.Join(d[1], "f"), "x", 0o644) }, nil)
	st1, err := e.u.Stat(e.ctx, "f")
	must(t, err)
	st2, err := e.u.Lstat(e.ctx, "f")
	must(t, err)
	if st1.Ino != st2.Ino || st1.Ino != hostStat(t, e.lower("f")).Ino {
		t.Errorf("ino of a lower file: got %d and %d, want the lower ino %d", st1.Ino, st2.Ino, hostStat(t, e.lower("f")).Ino)
	}
	must(t, e.u.Chmod(e.ctx, "f", 0o600))
	st3, err := e.u.Stat(e.ctx, "f")
	must(t, err)
	if want := hostStat(t, e.upper("f")).Ino; st3.Ino != want {
		t.Errorf("ino after copy-up: got %d, want the upper ino %d", st3.Ino, want)
	}
	must(t, e.u.Chmod(e.ctx, "f", 0o644))
	if st4, _ := e.u.Stat(e.ctx, "f"); st4.Ino != st3.Ino {
		t.Errorf("ino changed while the file stayed in branch 0: got %d, want %d", st4.Ino, st3.Ino)
	}
}

// TestConcurrentCopyUpsOfDistinctFilesProceedInParallel holds the copy-up
// of one file inside the lower branch's read and checks that the copy-up of
// another file completes meanwhile. A union-wide lock would make the second
// copy-up wait for the first: the test would then fail at its deadline.
func TestConcurrentCopyUpsOfDistinctFilesProceedInParallel(t *testing.T) {
	g := newGate()
	big := make([]byte, 4<<20)
	rand.Read(big)
	e := newEnv(t, 2, func(d []string) {
		must(t, os.WriteFile(filepath.Join(d[1], "big1"), big, 0o644))
		must(t, os.WriteFile(filepath.Join(d[1], "big2"), big, 0o644))
	}, func(i int, s fs.Service) fs.Service {
		if i != 1 {
			return s
		}
		return &hookService{Service: s, wrapFile: func(name string, f fs.File) fs.File {
			if name == "big1" {
				return &hookFile{File: f, onPread: g.wait}
			}
			return f
		}}
	})
	first := make(chan error, 1)
	go func() { first <- closeOpenName(e, "big1", unix.O_RDWR) }()
	select {
	case <-g.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("copy-up of big1 never reached the lower read")
	}
	second := make(chan error, 1)
	go func() { second <- closeOpenName(e, "big2", unix.O_RDWR) }()
	select {
	case err := <-second:
		must(t, err)
	case <-time.After(30 * time.Second):
		close(g.release)
		t.Fatal("copy-up of big2 waited for the blocked copy-up of big1")
	}
	select {
	case <-first:
		t.Fatal("copy-up of big1 finished while its read was blocked")
	default:
	}
	close(g.release)
	must(t, <-first)
	for _, n := range []string{"big1", "big2"} {
		got, err := os.ReadFile(e.upper(n))
		must(t, err)
		if !bytes.Equal(got, big) {
			t.Errorf("%s: copied content differs", n)
		}
	}
}

func closeOpenName(e *env, name string, flags int) error {
	f, err := e.u.Open(e.ctx, name, flags, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

func TestRacingCopyUpsOfSameFileYieldOneExactCopy(t *testing.T) {
	data := make([]byte, 3<<20+12345)
	rand.Read(data)
	e := newEnv(t, 2, func(d []string) { must(t, os.WriteFile(filepath.Join(d[1], "f"), data, 0o644)) }, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			f, err := e.u.Open(e.ctx, "f", unix.O_RDWR, 0)
			if err != nil {
				errs <- err
				return
			}
			defer f.Close()
			got := make([]byte, len(data)+1)
			n, err := f.Pread(got, 0)
			if err != nil {
				errs <- err
				return
			}
			if !bytes.Equal(got[:n], data) {
				errs <- os.ErrInvalid
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("racing copy-up: %v", err)
	}
	got, err := os.ReadFile(e.upper("f"))
	must(t, err)
	if !bytes.Equal(got, data) {
		t.Error("upper copy differs from the lower file")
	}
	e.noTemporaries()
}

// TestCopyUpFailureLeavesNothingVisible injects faults at each step of a
// copy-up: the call fails, nothing half-copied is visible in the union or
// the upper branch, and the lower branch is intact (checked at cleanup).
func TestCopyUpFailureLeavesNothingVisible(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	cases := []struct {
		name string
		wrap func(i int, s fs.Service) fs.Service
	}{
		{"upper_write_fails_midway", func(i int, s fs.Service) fs.Service {
			if i != 0 {
				return s
			}
			return &hookService{Service: s, wrapFile: func(name string, f fs.File) fs.File {
				return &hookFile{File: f, onPwrite: failAfter(2)}
			}}
		}},
		{"lower_read_fails_midway", func(i int, s fs.Service) fs.Service {
			if i != 1 {
				return s
			}
			armed := true // only the first open (the copy-up's) fails
			return &hookService{Service: s, wrapFile: func(name string, f fs.File) fs.File {
				if !armed {
					return f
				}
				armed = false
				return &hookFile{File: f, onPread: failAfter(2)}
			}}
		}},
		{"publish_rename_fails", func(i int, s fs.Service) fs.Service {
			if i != 0 {
				return s
			}
			return &hookService{Service: s, onRename: func(o, n string) error {
				if n == "d/f" {
					return &fsError{syscall.ENOSPC}
				}
				return nil
			}}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 2, func(d []string) {
				must(t, os.Mkdir(filepath.Join(d[1], "d"), 0o755))
				must(t, os.WriteFile(filepath.Join(d[1], "d", "f"), data, 0o644))
			}, tc.wrap, union.WithCopyUpChunk(1<<20))
			_, err := e.u.Open(e.ctx, "d/f", unix.O_RDWR, 0)
			if err == nil {
				t.Fatal("open for write succeeded despite the injected fault")
			}
			if e.exists(e.upper("d/f")) {
				t.Error("a partial copy is visible in the upper branch")
			}
			e.noTemporaries()
			if got := e.read("d/f"); got != string(data) {
				t.Error("union no longer shows the lower content after a failed copy-up")
			}
		})
	}
}
