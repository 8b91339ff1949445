package fstest

import (
	"bytes"
	"fmt"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func init() {
	register(
		testCase{name: "concurrent_appenders", fn: testConcurrentAppend},
		testCase{name: "concurrent_writers_distinct_files", fn: testConcurrentFiles},
		testCase{name: "concurrent_writers_distinct_ranges", fn: testConcurrentRanges},
		testCase{name: "concurrent_preads_one_handle", fn: testConcurrentPreads},
		testCase{name: "concurrent_storm_stat_create_unlink", fn: testStorm},
		testCase{name: "concurrent_mkdir_same_name", fn: testConcurrentMkdir},
		testCase{name: "concurrent_rename_noreplace_one_wins", fn: testConcurrentNoreplace},
	)
}

// run starts n goroutines running f(i) and waits; the first error fails the test.
func run(t *testing.T, n int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// testConcurrentAppend: several handles append records concurrently; no
// byte may be lost or interleaved within a record.
func testConcurrentAppend(t *testing.T, s fs.Service) {
	writeFile(t, s, "log", nil, 0o644)
	const writers, records = 4, 200
	run(t, writers, func(w int) error {
		f, err := s.Open(ctx(t), "log", unix.O_WRONLY|unix.O_APPEND, 0)
		if err != nil {
			return err
		}
		defer f.Close()
		for r := 0; r < records; r++ {
			rec := []byte(fmt.Sprintf("<w%d r%04d %s>\n", w, r, bytes.Repeat([]byte{byte('a' + w)}, 20+r%50)))
			if n, err := f.Pwrite(rec, 0); err != nil || n != len(rec) {
				return fmt.Errorf("writer %d record %d: got (%d, %v)", w, r, n, err)
			}
		}
		return nil
	})
	lines := bytes.Split(bytes.TrimSuffix(readFile(t, s, "log"), []byte("\n")), []byte("\n"))
	if len(lines) != writers*records {
		t.Fatalf("got %d records, want %d", len(lines), writers*records)
	}
	next := make([]int, writers)
	for _, l := range lines {
		var w, r int
		var body string
		if _, err := fmt.Sscanf(string(l), "<w%d r%d %s", &w, &r, &body); err != nil || w < 0 || w >= writers {
			t.Fatalf("corrupt record %q", l)
		}
		want := fmt.Sprintf("%s>", bytes.Repeat([]byte{byte('a' + w)}, 20+r%50))
		if r != next[w] || body != want {
			t.Fatalf("writer %d: got record %d %q, want record %d %q", w, r, body, next[w], want)
		}
		next[w]++
	}
}

func testConcurrentFiles(t *testing.T, s fs.Service) {
	const n = 8
	run(t, n, func(i int) error {
		name := fmt.Sprintf("f%d", i)
		f, err := s.Open(ctx(t), name, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		data := pattern(100_000+i*1000, byte(i))
		for off := 0; off < len(data); off += 4096 {
			end := min(off+4096, len(data))
			if _, err := f.Pwrite(data[off:end], int64(off)); err != nil {
				return err
			}
		}
		return nil
	})
	for i := 0; i < n; i++ {
		if got := readFile(t, s, fmt.Sprintf("f%d", i)); !bytes.Equal(got, pattern(100_000+i*1000, byte(i))) {
			t.Errorf("f%d: content differs (got %d bytes)", i, len(got))
		}
	}
}

// testConcurrentRanges: goroutines write interleaved, unaligned ranges of one
// file through one shared handle and through their own handles.
func testConcurrentRanges(t *testing.T, s fs.Service) {
	const n, chunk, rounds = 6, 1000, 40 // chunk is deliberately not block-aligned
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	run(t, n, func(i int) error {
		h := f
		if i%2 == 1 {
			own, err := s.Open(ctx(t), "f", unix.O_WRONLY, 0)
			if err != nil {
				return err
			}
			defer own.Close()
			h = own
		}
		for r := 0; r < rounds; r++ {
			off := int64((r*n + i) * chunk)
			if _, err := h.Pwrite(bytes.Repeat([]byte{byte(i + 1)}, chunk), off); err != nil {
				return err
			}
		}
		return nil
	})
	got := readAll(t, f, "f")
	if len(got) != n*chunk*rounds {
		t.Fatalf("size: got %d, want %d", len(got), n*chunk*rounds)
	}
	for pos, b := range got {
		want := byte((pos/chunk)%n + 1)
		if b != want {
			t.Fatalf("byte %d: got %d, want %d (writer %d's range)", pos, b, want, want-1)
		}
	}
}

func testConcurrentPreads(t *testing.T, s fs.Service) {
	data := pattern(1<<20, 33)
	writeFile(t, s, "f", data, 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "open")
	defer f.Close()
	run(t, 8, func(i int) error {
		buf := make([]byte, 3000)
		for k := 0; k < 200; k++ {
			off := (k*7919 + i*104729) % (len(data) - len(buf))
			n, err := f.Pread(buf, int64(off))
			if err != nil || n != len(buf) || !bytes.Equal(buf, data[off:off+len(buf)]) {
				return fmt.Errorf("goroutine %d pread at %d: got (%d, %v) or wrong bytes", i, off, n, err)
			}
		}
		return nil
	})
}

// testStorm runs stat/create/write/unlink from many goroutines on one
// service; each goroutine owns its names and checks its own results.
func testStorm(t *testing.T, s fs.Service) {
	mkdir(t, s, "storm")
	writeFile(t, s, "storm/shared", []byte("shared"), 0o644)
	run(t, 16, func(g int) error {
		c := ctx(t)
		for k := 0; k < 40; k++ {
			name := fmt.Sprintf("storm/g%d-%d", g, k%5)
			f, err := s.Open(c, name, unix.O_CREAT|unix.O_EXCL|unix.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("create %s: %v", name, err)
			}
			msg := []byte(name)
			if _, err := f.Pwrite(msg, 0); err != nil {
				f.Close()
				return err
			}
			if err := f.Close(); err != nil {
				return err
			}
			st, err := s.Stat(c, name)
			if err != nil || st.Size != int64(len(msg)) {
				return fmt.Errorf("stat %s: got (size %d, %v), want %d", name, st.Size, err, len(msg))
			}
			if st, err := s.Stat(c, "storm/shared"); err != nil || st.Size != 6 {
				return fmt.Errorf("stat shared: (%d, %v)", st.Size, err)
			}
			if err := s.Unlink(c, name); err != nil {
				return fmt.Errorf("unlink %s: %v", name, err)
			}
			if _, err := s.Lstat(c, name); fs.Errno(err) != syscall.ENOENT {
				return fmt.Errorf("lstat after unlink %s: got %v, want ENOENT", name, err)
			}
		}
		return nil
	})
	if ents := listDir(t, s, "storm", 0); len(ents) != 1 {
		t.Errorf("after the storm: got %d entries, want only shared", len(ents))
	}
}

func testConcurrentMkdir(t *testing.T, s fs.Service) {
	var mu sync.Mutex
	wins := 0
	run(t, 8, func(i int) error {
		err := s.Mkdir(ctx(t), "d", 0o755)
		switch fs.Errno(err) {
		case 0:
			mu.Lock()
			wins++
			mu.Unlock()
		case syscall.EEXIST:
		default:
			return fmt.Errorf("mkdir: %v", err)
		}
		return nil
	})
	if wins != 1 {
		t.Errorf("concurrent mkdir of one name: %d succeeded, want exactly 1", wins)
	}
}

func testConcurrentNoreplace(t *testing.T, s fs.Service) {
	for i := 0; i < 8; i++ {
		writeFile(t, s, fmt.Sprintf("src%d", i), []byte{byte(i)}, 0o644)
	}
	var mu sync.Mutex
	winner := -1
	wins := 0
	run(t, 8, func(i int) error {
		err := s.Rename(ctx(t), fmt.Sprintf("src%d", i), "dst", unix.RENAME_NOREPLACE)
		switch fs.Errno(err) {
		case 0:
			mu.Lock()
			wins++
			winner = i
			mu.Unlock()
		case syscall.EEXIST:
		default:
			return fmt.Errorf("rename: %v", err)
		}
		return nil
	})
	if wins != 1 {
		t.Fatalf("RENAME_NOREPLACE race: %d succeeded, want exactly 1", wins)
	}
	if got := readFile(t, s, "dst"); len(got) != 1 || int(got[0]) != winner {
		t.Errorf("dst: got %v, want the winner's byte %d", got, winner)
	}
}
