package cache_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// TestConcurrentAppendReachesBackend: writers append records through one
// cache and close at different times (each close flushes while the others
// still append). Once all are closed, the wrapped directory must hold every
// record, byte for byte what the cache serves. Two races lost records here:
// a write-back that clipped a page's dirty range at a size the writer had
// not grown yet (zeros on disk), and a reopen that rebuilt a forgotten
// inode from a stat taken before another writer's appends (overwrites).
func TestConcurrentAppendReachesBackend(t *testing.T) {
	const writers = 6
	want := 0
	for w := 0; w < writers; w++ {
		want += recordsOf(w)
	}
	for _, m := range modes[:2] {
		t.Run(m.name, func(t *testing.T) {
			for iter := 0; iter < 100; iter++ {
				dir := t.TempDir()
				c := newCache(t, newLocal(t, dir), m.o)
				appendConcurrently(t, c, writers)
				disk, err := os.ReadFile(filepath.Join(dir, "log"))
				must(t, err)
				served := readWhole(t, c, "log")
				if got := bytes.Count(disk, []byte("\n")); got != want || !bytes.Equal(disk, served) {
					t.Fatalf("iteration %d: the directory holds %d bytes, %d records (want %d); the cache serves %d bytes (equal: %v)",
						iter, len(disk), got, want, len(served), bytes.Equal(disk, served))
				}
			}
		})
	}
}

// recordsOf is how many records writer w appends: different counts make
// the writers close at different times.
func recordsOf(w int) int { return 40 + 30*w }

func appendConcurrently(t *testing.T, s fs.Service, writers int) {
	t.Helper()
	ctx := context.Background()
	f, err := s.Open(ctx, "log", unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC, 0o644)
	must(t, err)
	must(t, f.Close())
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, err := s.Open(ctx, "log", unix.O_WRONLY|unix.O_APPEND, 0)
			if err != nil {
				errs <- err
				return
			}
			for r := 0; r < recordsOf(w); r++ {
				rec := fmt.Appendf(nil, "<w%d r%04d %s>\n", w, r, bytes.Repeat([]byte{byte('a' + w)}, 20+r%50))
				if n, err := f.Pwrite(rec, 0); err != nil || n != len(rec) {
					errs <- fmt.Errorf("writer %d record %d: (%d, %v)", w, r, n, err)
					break
				}
			}
			if err := f.Close(); err != nil {
				errs <- fmt.Errorf("writer %d: close: %v", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func readWhole(t *testing.T, s fs.Service, name string) []byte {
	t.Helper()
	f, err := s.Open(context.Background(), name, unix.O_RDONLY, 0)
	must(t, err)
	defer f.Close()
	st, err := f.Stat()
	must(t, err)
	buf := make([]byte, st.Size+1)
	n, err := f.Pread(buf, 0)
	if err != nil && err != io.EOF {
		t.Fatal(err)
	}
	return buf[:n]
}
