package cache_test

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/fstest"
	"polytropon/fs/union"
)

// TestSharedLowerCachedOnce: two clones (unions over private upper
// branches) share one lower service through their tenants' cache
// instances; a file of the lower branch is read from it once.
func TestSharedLowerCachedOnce(t *testing.T) {
	lowerDir := t.TempDir()
	img := pattern(1<<20, 8)
	must(t, os.WriteFile(filepath.Join(lowerDir, "img"), img, 0o644))
	lower := &fstest.Counting{Service: newLocal(t, lowerDir)}
	sh, err := cache.NewShared(8<<20, "weighted")
	must(t, err)
	var clones []fs.Service
	for i, w := range []int{100, 300} {
		lc, err := sh.Tenant(fmt.Sprintf("clone%d", i), w, lower, cache.Options{})
		must(t, err)
		t.Cleanup(func() { lc.Close() })
		u, err := union.New([]fs.Service{newLocal(t, t.TempDir()), lc})
		must(t, err)
		clones = append(clones, u)
	}
	for i, u := range clones {
		f := open(t, u, "img", unix.O_RDONLY)
		if got := readAt(t, f, len(img)+1, 0); !bytes.Equal(got, img) {
			t.Fatalf("clone %d: wrong image bytes", i)
		}
	}
	if got := lower.PreadBytes.Load(); got != int64(len(img)) {
		t.Errorf("the lower branch delivered %d bytes for two clones, want the image once (%d)", got, len(img))
	}
	st := sh.Stats()
	if st[0].Pages != len(img)/sh.PageSize() || st[1].Pages != 0 || st[1].Hits == 0 {
		t.Errorf("ownership: clone0 owns %d pages, clone1 owns %d with %d hits; want clone0 to own all %d, clone1 only hits",
			st[0].Pages, st[1].Pages, st[1].Hits, len(img)/sh.PageSize())
	}
	// A copy-up by one clone does not change what the other sees.
	f := open(t, clones[0], "img", unix.O_RDWR)
	_, err = f.Pwrite([]byte("mine"), 0)
	must(t, err)
	must(t, f.Close())
	g := open(t, clones[1], "img", unix.O_RDONLY)
	if got := readAt(t, g, 4, 0); !bytes.Equal(got, img[:4]) {
		t.Errorf("clone1 sees clone0's copy-up write: %q", got)
	}
}

// TestSharedConcurrentPressure runs many goroutines of three tenants (one
// write-through) over one backend through a pool of 32 small pages: own
// files, one shared file with a region per goroutine, reads checked
// against per-goroutine models, syncs and truncates. Run it with -race.
func TestSharedConcurrentPressure(t *testing.T) {
	for _, policy := range cache.Policies() {
		t.Run(policy, func(t *testing.T) {
			dir := t.TempDir()
			back := newLocal(t, dir)
			sh, err := cache.NewShared(32*4096, policy, cache.WithPageSize(4096), cache.WithAllocSlots(2))
			must(t, err)
			var tenants []fs.Service
			for i, w := range []int{1, 2, 4} {
				c, err := sh.Tenant(fmt.Sprintf("t%d", i), w, back, cache.Options{WriteThrough: i == 2, MaxDirty: 16 << 10})
				must(t, err)
				tenants = append(tenants, c)
			}
			const goroutines, region, ops = 12, 10_000, 300
			f0, err := tenants[0].Open(t.Context(), "shared", unix.O_CREAT|unix.O_RDWR, 0o644)
			must(t, err)
			must(t, f0.Truncate(goroutines*region))
			must(t, f0.Close())
			models := make([][]byte, goroutines)
			sharedModel := make([]byte, goroutines*region)
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := 0; g < goroutines; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs <- pressureWorker(t, tenants[g%3], g, region, ops, &models[g], sharedModel[g*region:(g+1)*region])
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Error(err)
				}
			}
			for _, c := range tenants {
				must(t, c.(fs.Flusher).Flush(t.Context()))
			}
			for g := 0; g < goroutines; g++ {
				got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("own%d", g)))
				must(t, err)
				if !bytes.Equal(got, models[g]) {
					t.Errorf("own%d: backend has %d bytes differing from the model's %d", g, len(got), len(models[g]))
				}
			}
			got, err := os.ReadFile(filepath.Join(dir, "shared"))
			must(t, err)
			if !bytes.Equal(got, sharedModel) {
				t.Errorf("shared file differs from the model in the backend")
			}
			st := sh.Stats()
			pages := 0
			for _, s := range st {
				pages += s.Pages
			}
			if pages > 32 {
				t.Errorf("tenants own %d pages in a pool of 32", pages)
			}
			for _, c := range tenants {
				must(t, c.Close())
			}
		})
	}
}

func pressureWorker(t *testing.T, s fs.Service, g, region, ops int, model *[]byte, shared []byte) error {
	rng := rand.New(rand.NewSource(int64(g)))
	ctx := t.Context()
	own, err := s.Open(ctx, fmt.Sprintf("own%d", g), unix.O_CREAT|unix.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer own.Close()
	sf, err := s.Open(ctx, "shared", unix.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer sf.Close()
	base := int64(g * region)
	for i := 0; i < ops; i++ {
		switch r := rng.Intn(20); {
		case r < 6: // write own file
			off, n := rng.Intn(60_000), 1+rng.Intn(9000)
			data := pattern(n, rng.Int63())
			if _, err := own.Pwrite(data, int64(off)); err != nil {
				return fmt.Errorf("g%d op %d: pwrite own: %v", g, i, err)
			}
			if off+n > len(*model) {
				*model = append(*model, make([]byte, off+n-len(*model))...)
			}
			copy((*model)[off:], data)
		case r < 11: // read own file
			off, n := rng.Intn(70_000), 1+rng.Intn(9000)
			buf := make([]byte, n)
			k, err := own.Pread(buf, int64(off))
			if err != nil {
				return fmt.Errorf("g%d op %d: pread own: %v", g, i, err)
			}
			want, from := 0, min(off, len(*model))
			if off < len(*model) {
				want = min(n, len(*model)-off)
			}
			if k != want || !bytes.Equal(buf[:k], (*model)[from:from+want]) {
				return fmt.Errorf("g%d op %d: pread own %d@%d: got %d bytes, want %d matching the model", g, i, n, off, k, want)
			}
		case r < 14: // write own region of the shared file
			off, n := rng.Intn(region), 1+rng.Intn(3000)
			n = min(n, region-off)
			data := pattern(n, rng.Int63())
			if _, err := sf.Pwrite(data, base+int64(off)); err != nil {
				return fmt.Errorf("g%d op %d: pwrite shared: %v", g, i, err)
			}
			copy(shared[off:], data)
		case r < 18: // read it back
			buf := make([]byte, region)
			if k, err := sf.Pread(buf, base); err != nil || k != region || !bytes.Equal(buf, shared) {
				return fmt.Errorf("g%d op %d: pread shared region: got (%d, %v) or wrong bytes", g, i, k, err)
			}
		case r < 19:
			if err := own.Sync(rng.Intn(2) == 0); err != nil {
				return fmt.Errorf("g%d op %d: fsync: %v", g, i, err)
			}
		default:
			size := rng.Intn(40_000)
			if err := own.Truncate(int64(size)); err != nil {
				return fmt.Errorf("g%d op %d: ftruncate: %v", g, i, err)
			}
			if size < len(*model) {
				*model = (*model)[:size]
			} else {
				*model = append(*model, make([]byte, size-len(*model))...)
			}
		}
	}
	return nil
}
