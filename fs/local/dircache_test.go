package local

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"polytropon/fs"
)

// mustWrite creates a host file under dir with the given content.
func mustWrite(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func wantSize(t *testing.T, l *Local, name string, size int64) {
	t.Helper()
	for _, stat := range []func() (fs.Stat, error){
		func() (fs.Stat, error) { return l.Stat(t.Context(), name) },
		func() (fs.Stat, error) { return l.Lstat(t.Context(), name) },
	} {
		st, err := stat()
		if err != nil || st.Size != size {
			t.Errorf("stat %s: got size %d, err %v; want size %d", name, st.Size, err, size)
		}
	}
}

func wantENOENT(t *testing.T, l *Local, name string) {
	t.Helper()
	if _, err := l.Stat(t.Context(), name); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("stat %s: got %v, want ENOENT", name, err)
	}
	if _, err := l.Lstat(t.Context(), name); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("lstat %s: got %v, want ENOENT", name, err)
	}
}

// The directory cache must never answer with a mapping that a rename, rmdir
// or unlink through the service has changed.
func TestDirCacheFollowsNamespaceChanges(t *testing.T) {
	c := t.Context()
	t.Run("rename", func(t *testing.T) {
		l, dir := newTest(t)
		mustWrite(t, filepath.Join(dir, "a/f"), "12345")
		wantSize(t, l, "a/f", 5) // caches "a"
		if err := l.Rename(c, "a", "b", 0); err != nil {
			t.Fatal(err)
		}
		wantENOENT(t, l, "a/f")
		wantSize(t, l, "b/f", 5)
		if err := l.Mkdir(c, "a", 0o755); err != nil {
			t.Fatal(err)
		}
		wantENOENT(t, l, "a/f")
	})
	t.Run("rmdir", func(t *testing.T) {
		l, dir := newTest(t)
		mustWrite(t, filepath.Join(dir, "d/f"), "1")
		wantSize(t, l, "d/f", 1)
		if err := l.Unlink(c, "d/f"); err != nil {
			t.Fatal(err)
		}
		if err := l.Rmdir(c, "d"); err != nil {
			t.Fatal(err)
		}
		wantENOENT(t, l, "d/f")
		mustWrite(t, filepath.Join(dir, "d/f"), "123")
		wantSize(t, l, "d/f", 3)
	})
	t.Run("unlink_symlinked_dir", func(t *testing.T) {
		l, dir := newTest(t)
		mustWrite(t, filepath.Join(dir, "x/f"), "1234")
		if err := l.Symlink(c, "x", "a"); err != nil {
			t.Fatal(err)
		}
		wantSize(t, l, "a/f", 4) // caches "a" -> x
		if err := l.Unlink(c, "a"); err != nil {
			t.Fatal(err)
		}
		wantENOENT(t, l, "a/f")
		if err := l.Mkdir(c, "a", 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, filepath.Join(dir, "a/g"), "12")
		wantENOENT(t, l, "a/f")
		wantSize(t, l, "a/g", 2)
	})
	t.Run("exchange", func(t *testing.T) {
		l, dir := newTest(t)
		mustWrite(t, filepath.Join(dir, "p/f"), "1")
		mustWrite(t, filepath.Join(dir, "q/f"), "22")
		wantSize(t, l, "p/f", 1)
		wantSize(t, l, "q/f", 2)
		if err := l.Rename(c, "p", "q", 2 /* RENAME_EXCHANGE */); err != nil {
			t.Fatal(err)
		}
		wantSize(t, l, "p/f", 2)
		wantSize(t, l, "q/f", 1)
	})
}

// Cached directories are resolved inside the root like everything else, and
// a final symlink is never followed through the cache.
func TestDirCacheStaysConfined(t *testing.T) {
	c := t.Context()
	l, dir := newTest(t)
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret"), "do not stat me")
	mustWrite(t, filepath.Join(dir, "in/secret"), "x")
	rel, err := filepath.Rel(dir, outside)
	if err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{
		"abs": outside,                           // absolute: taken relative to the root
		"rel": rel,                               // ../../..: clamped at the root
		"up":  "../../../../../../../../" + "in", // climbs to the root, then in/
	} {
		if err := l.Symlink(c, target, link); err != nil {
			t.Fatal(err)
		}
	}
	wantENOENT(t, l, "abs/secret")
	wantENOENT(t, l, "rel/secret")
	wantSize(t, l, "up/secret", 1) // the root's in/secret, not the host's

	// A final symlink: Stat follows it inside the root, Lstat does not.
	if err := l.Symlink(c, "/in/secret", "in/link"); err != nil {
		t.Fatal(err)
	}
	st, err := l.Stat(c, "in/link")
	if err != nil || st.Size != 1 || !st.IsRegular() {
		t.Errorf("stat in/link: got %+v, %v; want the 1-byte regular in/secret", st, err)
	}
	if st, err := l.Lstat(c, "in/link"); err != nil || !st.IsSymlink() {
		t.Errorf("lstat in/link: got mode %o, %v; want a symlink", st.Mode, err)
	}
	if err := l.Symlink(c, outside+"/secret", "in/outlink"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Stat(c, "in/outlink"); fs.Errno(err) != syscall.ENOENT {
		t.Errorf("stat in/outlink (absolute link to a host file): got %v, want ENOENT", err)
	}
}

// The cache holds a bounded number of descriptors and releases them on Close.
func TestDirCacheBounded(t *testing.T) {
	l, dir := newTest(t)
	for i := range maxCachedDirs + 40 {
		mustWrite(t, filepath.Join(dir, "d", string(rune('a'+i%26))+string(rune('a'+i/26)), "f"), "1")
	}
	ents, err := os.ReadDir(filepath.Join(dir, "d"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		wantSize(t, l, "d/"+e.Name()+"/f", 1)
	}
	l.dirs.mu.RLock()
	n := len(l.dirs.fds)
	l.dirs.mu.RUnlock()
	if n > maxCachedDirs {
		t.Errorf("cache holds %d descriptors, want at most %d", n, maxCachedDirs)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if len(l.dirs.fds) != 0 {
		t.Errorf("after Close the cache still holds %d descriptors", len(l.dirs.fds))
	}
}
