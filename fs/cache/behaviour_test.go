package cache_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/fstest"
)

func pattern(n int, seed int64) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func open(t testing.TB, s fs.Service, name string, flags int) fs.File {
	t.Helper()
	f, err := s.Open(t.Context(), name, flags, 0o644)
	must(t, err)
	t.Cleanup(func() { f.Close() })
	return f
}

func readAt(t testing.TB, f fs.File, n int, off int64) []byte {
	t.Helper()
	b := make([]byte, n)
	k, err := f.Pread(b, off)
	must(t, err)
	return b[:k]
}

// TestReadaheadSequential: a sequential stream of small reads reaches the
// wrapped service in growing batches; a random order does not.
func TestReadaheadSequential(t *testing.T) {
	const size, io = 1 << 20, 4096
	data := pattern(size, 1)
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "f"), data, 0o644))
	for _, tc := range []struct {
		name      string
		ra        int64
		sequental bool
		maxReads  int64
		minReads  int64
	}{
		{"sequential", 64 << 10, true, size / io / 8, 1},
		{"sequential-no-readahead", -1, true, size / io, size / io},
		{"random", 64 << 10, false, size / io, size / io / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			back := &fstest.Counting{Service: newLocal(t, dir)}
			c := newCache(t, back, cache.Options{PageSize: io, MaxReadahead: tc.ra})
			f := open(t, c, "f", unix.O_RDONLY)
			order := rand.New(rand.NewSource(2)).Perm(size / io)
			for i := range size / io {
				k := i
				if !tc.sequental {
					k = order[i]
				}
				if got := readAt(t, f, io, int64(k*io)); !bytes.Equal(got, data[k*io:(k+1)*io]) {
					t.Fatalf("read %d at %d: wrong bytes", i, k*io)
				}
			}
			reads := back.Preads.Load()
			if reads > tc.maxReads || reads < tc.minReads {
				t.Errorf("%d reads of %d bytes: %d reads reached the backend, want %d..%d", size/io, io, reads, tc.minReads, tc.maxReads)
			}
			if got := back.PreadBytes.Load(); got != size {
				t.Errorf("backend delivered %d bytes, want each byte once (%d)", got, size)
			}
		})
	}
}

// TestWriteBackDefersAndSyncFlushes: a write-back Pwrite leaves the backend
// untouched; Sync puts the bytes there and syncs the backend; a cached
// read-after-write never asks the backend.
func TestWriteBackDefersAndSyncFlushes(t *testing.T) {
	dir := t.TempDir()
	back := &fstest.Counting{Service: newLocal(t, dir)}
	c := newCache(t, back, cache.Options{DirtyExpire: time.Hour})
	f := open(t, c, "f", unix.O_CREAT|unix.O_RDWR)
	data := pattern(300_000, 3)
	_, err := f.Pwrite(data, 1000)
	must(t, err)
	if got := readAt(t, f, len(data), 1000); !bytes.Equal(got, data) {
		t.Fatalf("read after write through the cache: wrong bytes")
	}
	if back.Pwrites.Load() != 0 || back.Preads.Load() != 0 {
		t.Errorf("before Sync: %d pwrites and %d preads reached the backend, want none", back.Pwrites.Load(), back.Preads.Load())
	}
	if st, _ := os.Stat(filepath.Join(dir, "f")); st.Size() != 0 {
		t.Errorf("before Sync: backend file has %d bytes, want 0", st.Size())
	}
	if st, err := f.Stat(); err != nil || st.Size != int64(len(data))+1000 {
		t.Errorf("fstat through the cache: got size %d (%v), want %d", st.Size, err, len(data)+1000)
	}
	syncs := back.Syncs.Load()
	must(t, f.Sync(true))
	if back.Syncs.Load() != syncs+1 {
		t.Errorf("Sync did not sync the backend file")
	}
	got, err := os.ReadFile(filepath.Join(dir, "f"))
	must(t, err)
	if !bytes.Equal(got, append(make([]byte, 1000), data...)) {
		t.Errorf("after Sync the backend file differs (%d bytes)", len(got))
	}
}

// TestWriteThrough: the bytes are in the backend when Pwrite returns.
func TestWriteThrough(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, newLocal(t, dir), cache.Options{WriteThrough: true})
	f := open(t, c, "f", unix.O_CREAT|unix.O_RDWR)
	data := pattern(100_000, 4)
	_, err := f.Pwrite(data, 0)
	must(t, err)
	readAt(t, f, 10, 0) // cache a page, then overwrite part of it
	_, err = f.Pwrite([]byte("XYZ"), 5)
	must(t, err)
	copy(data[5:], "XYZ")
	got, _ := os.ReadFile(filepath.Join(dir, "f"))
	if !bytes.Equal(got, data) {
		t.Errorf("backend after write-through Pwrite differs")
	}
	if got := readAt(t, f, 20, 0); !bytes.Equal(got, data[:20]) {
		t.Errorf("cached page not updated by the write-through: got %q", got)
	}
}

// TestFlusherWritesExpiredPages: the tenant's flusher writes a page back
// once it is older than DirtyExpire, with no Sync.
func TestFlusherWritesExpiredPages(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, newLocal(t, dir), cache.Options{DirtyExpire: 20 * time.Millisecond, WritebackInterval: 5 * time.Millisecond})
	f := open(t, c, "f", unix.O_CREAT|unix.O_RDWR)
	_, err := f.Pwrite([]byte("expired"), 0)
	must(t, err)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) == "expired" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the flusher did not write the page back within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestMaxDirtyThrottles: a writer never leaves its tenant above MaxDirty.
func TestMaxDirtyThrottles(t *testing.T) {
	sh, err := cache.NewShared(4<<20, "clock2q", cache.WithPageSize(4096))
	must(t, err)
	c, err := sh.Tenant("w", 1, newLocal(t, t.TempDir()), cache.Options{MaxDirty: 64 << 10, DirtyExpire: time.Hour})
	must(t, err)
	defer c.Close()
	f := open(t, c, "f", unix.O_CREAT|unix.O_RDWR)
	for i := 0; i < 100; i++ {
		_, err := f.Pwrite(pattern(8192, int64(i)), int64(i)*8192)
		must(t, err)
		if d := sh.Stats()[0].Dirty; d > 16 {
			t.Fatalf("after write %d: %d dirty pages, want <= 16 (64 KiB)", i, d)
		}
	}
	if wb := sh.Stats()[0].Writebacks; wb == 0 {
		t.Errorf("no write-backs although 800 KiB were written with MaxDirty 64 KiB")
	}
}

// TestInvalidation: truncate, unlink, rename and a change behind the
// cache's back (seen at the next open) never leave stale pages.
func TestInvalidation(t *testing.T) {
	dir := t.TempDir()
	c := newCache(t, newLocal(t, dir), cache.Options{PageSize: 4096})
	ctx := t.Context()
	write := func(name string, data []byte) {
		f, err := c.Open(ctx, name, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC, 0o644)
		must(t, err)
		_, err = f.Pwrite(data, 0)
		must(t, err)
		must(t, f.Close())
	}
	read := func(name string) []byte {
		f, err := c.Open(ctx, name, unix.O_RDONLY, 0)
		must(t, err)
		defer f.Close()
		st, err := f.Stat()
		must(t, err)
		return readAt(t, f, int(st.Size)+10, 0)
	}
	a, b := pattern(20_000, 5), pattern(30_000, 6)
	write("a", a)
	read("a")
	must(t, c.Truncate(ctx, "a", 5000))
	must(t, c.Truncate(ctx, "a", 20_000))
	want := append(append([]byte(nil), a[:5000]...), make([]byte, 15_000)...)
	if got := read("a"); !bytes.Equal(got, want) {
		t.Errorf("after shrink+grow: content differs from the first 5000 bytes then zeros")
	}
	write("b", b)
	read("b")
	must(t, c.Rename(ctx, "b", "a", 0))
	if got := read("a"); !bytes.Equal(got, b) {
		t.Errorf("after rename b -> a: a reads the old a")
	}
	must(t, c.Unlink(ctx, "a"))
	write("c", a) // may reuse the inode number of the unlinked file
	if got := read("c"); !bytes.Equal(got, a) {
		t.Errorf("new file c: got stale bytes")
	}
	// Behind the cache's back: another client rewrites c.
	other := pattern(20_000, 7)
	must(t, os.WriteFile(filepath.Join(dir, "c"), other, 0o644))
	time.Sleep(10 * time.Millisecond)
	if got := read("c"); !bytes.Equal(got, other) {
		t.Errorf("after an outside rewrite, a new open reads stale pages")
	}
}

// TestCapabilities: the cache forwards what its backend offers and no more.
func TestCapabilities(t *testing.T) {
	l := newLocal(t, t.TempDir())
	c := newCache(t, l, cache.Options{})
	if w, ok := c.(fs.Unwrapper); !ok || len(w.Unwrap()) != 1 || w.Unwrap()[0] != l {
		t.Errorf("Unwrap: want exactly the wrapped service")
	}
	if _, ok := c.(fs.Xattrer); !ok {
		t.Errorf("backend has fs.Xattrer, the cache does not")
	}
	if _, ok := c.(fs.Flusher); !ok {
		t.Errorf("the cache is not an fs.Flusher")
	}
	f := open(t, c, "f", unix.O_CREAT|unix.O_RDWR)
	if _, ok := f.(fs.CopyFileRanger); !ok {
		t.Errorf("backend files copy ranges, cache files do not")
	}
	bare := newCache(t, struct{ fs.Service }{l}, cache.Options{})
	if _, ok := bare.(fs.Xattrer); ok {
		t.Errorf("backend without fs.Xattrer, cache has it")
	}
	if _, err := cache.New(nil, cache.Options{}); !errors.Is(err, cache.ErrInvalidOptions) {
		t.Errorf("New(nil): got %v, want ErrInvalidOptions", err)
	}
	sh, err := cache.NewShared(1<<20, "no-such-policy")
	if !errors.Is(err, cache.ErrInvalidOptions) || sh != nil {
		t.Errorf("NewShared with an unknown policy: got %v", err)
	}
	if _, err := cache.NewShared(1<<20, "lru", cache.WithPageSize(3000)); !errors.Is(err, cache.ErrInvalidOptions) {
		t.Errorf("page size 3000: got %v, want ErrInvalidOptions", err)
	}
}

// TestStatAtCloseSeesWrites: while a written file is open the wrapped
// service has its size from before the write-back, which the cache's
// overlay corrects; a stat that meets the Close of that handle must not
// return the old size, whether it took it from the attribute cache just
// before the handle was released or from the wrapped service just before
// the write-back. The FUSE mount releases a handle after close(2) returned,
// so another client's stat lands in these windows.
func TestStatAtCloseSeesWrites(t *testing.T) {
	data := pattern(5000, 4)
	setup := func(t *testing.T) (*statHook, fs.Service, fs.File) {
		back := &statHook{Service: newLocal(t, t.TempDir())}
		c := newCache(t, back, cache.Options{DirtyExpire: time.Hour, AttrTimeout: time.Hour})
		f, err := c.Open(t.Context(), "f", unix.O_CREAT|unix.O_WRONLY, 0o644)
		must(t, err)
		_, err = f.Pwrite(data, 0)
		must(t, err)
		return back, c, f
	}
	want := func(t *testing.T, what string, st fs.Stat, err error) {
		t.Helper()
		if err != nil || st.Size != int64(len(data)) {
			t.Errorf("%s: size %d %v, want %d", what, st.Size, err, len(data))
		}
	}
	t.Run("CachedEntry", func(t *testing.T) {
		_, c, f := setup(t)
		st, err := c.Stat(t.Context(), "f") // caches the wrapped size, 0
		want(t, "stat of the open file", st, err)
		var atClose fs.Stat
		var statErr error
		cache.SetClosedHook(func() { atClose, statErr = c.Stat(t.Context(), "f") })
		t.Cleanup(func() { cache.SetClosedHook(nil) })
		must(t, f.Close())
		want(t, "stat as the handle was released", atClose, statErr)
	})
	t.Run("WrappedStatBeforeWriteBack", func(t *testing.T) {
		back, c, f := setup(t)
		back.after = func() { must(t, f.Close()) }
		st, err := c.Stat(t.Context(), "f")
		want(t, "stat that the close overtook", st, err)
		if back.after != nil {
			t.Fatal("the wrapped service saw no stat")
		}
	})
}

// statHook runs after once, after the first Stat of the wrapped service.
type statHook struct {
	fs.Service
	after func()
}

func (s *statHook) Stat(ctx ctxType, name string) (fs.Stat, error) {
	st, err := s.Service.Stat(ctx, name)
	if f := s.after; f != nil {
		s.after = nil
		f()
	}
	return st, err
}
