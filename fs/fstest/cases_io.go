package fstest

import (
	"bytes"
	"math/rand"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

func init() {
	register(
		testCase{name: "pread_short_at_eof", fn: testPreadShortEOF},
		testCase{name: "pread_pwrite_negative_offset_einval", fn: testNegativeOffset},
		testCase{name: "pwrite_past_eof_fills_zeros", fn: testPwritePastEOF},
		testCase{name: "pread_pwrite_random_model", fn: testRandomModel},
		testCase{name: "pread_pwrite_large_buffers", fn: testLargeBuffers},
		testCase{name: "truncate_grow_zeros", fn: testTruncateGrow},
		testCase{name: "truncate_shrink", fn: testTruncateShrink},
		testCase{name: "ftruncate", fn: testFtruncate},
		testCase{name: "truncate_errors", fn: testTruncateErrors},
		testCase{name: "sync_fsync_fdatasync", fn: testSync},
		testCase{name: "fallocate", needs: []feature{featFallocate}, fn: testFallocate},
		testCase{name: "fallocate_keep_size_punch_hole", needs: []feature{featFallocate}, fn: testFallocateFlags},
		testCase{name: "sparse_file_holes_read_zeros", fn: testSparseZeros},
		testCase{name: "sparse_file_blocks", needs: []feature{featSparse}, fn: testSparseBlocks},
		testCase{name: "large_offset_5gib", needs: []feature{featLargeFiles}, fn: testLargeOffset},
		testCase{name: "unlinked_open_file_readable", needs: []feature{featUnlinkedOpen}, fn: testUnlinkedOpen},
		testCase{name: "open_handle_survives_rename", fn: testHandleSurvivesRename},
		testCase{name: "odirect_io", needs: []feature{featODirect}, fn: testODirect},
		testCase{name: "copy_file_range", fn: testCopyFileRange},
		testCase{name: "rdwr_read_own_writes", fn: testReadOwnWrites},
	)
}

func testPreadShortEOF(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("hello"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "open")
	defer f.Close()
	buf := make([]byte, 10)
	n, err := f.Pread(buf, 2)
	if err != nil || n != 3 || string(buf[:n]) != "llo" {
		t.Errorf("pread across EOF: got (%d, %q, %v), want (3, \"llo\", nil)", n, buf[:n], err)
	}
	for _, off := range []int64{5, 6, 1 << 40} {
		n, err = f.Pread(buf, off)
		if err != nil || n != 0 {
			t.Errorf("pread at %d (size 5): got (%d, %v), want (0, nil)", off, n, err)
		}
	}
	n, err = f.Pread(nil, 0)
	if err != nil || n != 0 {
		t.Errorf("zero-length pread: got (%d, %v), want (0, nil)", n, err)
	}
}

func testNegativeOffset(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	_, err = f.Pread(make([]byte, 4), -1)
	wantErrno(t, err, syscall.EINVAL, "pread at -1")
	_, err = f.Pwrite([]byte("abcd"), -4096)
	wantErrno(t, err, syscall.EINVAL, "pwrite at -4096")
	wantErrno(t, f.Truncate(-1), syscall.EINVAL, "ftruncate to -1")
	wantErrno(t, s.Truncate(ctx(t), "f", -1), syscall.EINVAL, "truncate to -1")
}

func testPwritePastEOF(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	_, err = f.Pwrite([]byte("end"), 10000)
	must(t, err, "pwrite at 10000")
	st, err := f.Stat()
	must(t, err, "fstat")
	if st.Size != 10003 {
		t.Errorf("size: got %d, want 10003", st.Size)
	}
	got := readAll(t, f, "f")
	want := append(make([]byte, 10000), "end"...)
	if !bytes.Equal(got, want) {
		t.Errorf("content: got %d bytes (first non-zero at %d), want 10000 zeros then \"end\"", len(got), bytes.IndexFunc(got, func(r rune) bool { return r != 0 }))
	}
}

// testRandomModel does seeded random writes and reads against an in-memory model.
func testRandomModel(t *testing.T, s fs.Service) {
	rng := rand.New(rand.NewSource(42))
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	var model []byte
	for i := 0; i < 300; i++ {
		off := rng.Intn(200_000)
		n := 1 + rng.Intn(9000)
		if rng.Intn(3) > 0 {
			data := make([]byte, n)
			rng.Read(data)
			w, err := f.Pwrite(data, int64(off))
			if err != nil || w != n {
				t.Fatalf("op %d: pwrite(%d@%d): got (%d, %v)", i, n, off, w, err)
			}
			if off+n > len(model) {
				model = append(model, make([]byte, off+n-len(model))...)
			}
			copy(model[off:], data)
			continue
		}
		buf := make([]byte, n)
		r, err := f.Pread(buf, int64(off))
		must(t, err, "pread")
		want := 0
		if off < len(model) {
			want = min(n, len(model)-off)
		}
		if r != want || !bytes.Equal(buf[:r], model[off:off+want]) {
			t.Fatalf("op %d: pread(%d@%d): got %d bytes, want %d matching the model", i, n, off, r, want)
		}
	}
	if got := readAll(t, f, "f"); !bytes.Equal(got, model) {
		t.Errorf("final content differs from the model (got %d bytes, want %d)", len(got), len(model))
	}
}

func testLargeBuffers(t *testing.T, s fs.Service) {
	data := pattern(5<<20+123, 9)
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	n, err := f.Pwrite(data, 4095)
	if err != nil || n != len(data) {
		t.Fatalf("pwrite 5 MiB: got (%d, %v)", n, err)
	}
	buf := make([]byte, len(data)+100)
	n, err = f.Pread(buf, 4095)
	if err != nil || n != len(data) || !bytes.Equal(buf[:n], data) {
		t.Errorf("pread 5 MiB: got (%d, %v), want %d matching bytes", n, err, len(data))
	}
}

func testTruncateGrow(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("abc"), 0o644)
	must(t, s.Truncate(ctx(t), "f", 100_000), "truncate grow")
	got := readFile(t, s, "f")
	want := append([]byte("abc"), make([]byte, 100_000-3)...)
	if !bytes.Equal(got, want) {
		t.Errorf("after grow: got %d bytes, want \"abc\" + zeros up to 100000", len(got))
	}
}

func testTruncateShrink(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", pattern(10_000, 1), 0o644)
	must(t, s.Truncate(ctx(t), "f", 10), "truncate shrink")
	if got := readFile(t, s, "f"); !bytes.Equal(got, pattern(10_000, 1)[:10]) {
		t.Errorf("after shrink: got %d bytes, want the first 10", len(got))
	}
	// Shrink then grow: the cut part must come back as zeros.
	must(t, s.Truncate(ctx(t), "f", 20), "truncate grow")
	got := readFile(t, s, "f")
	if !bytes.Equal(got[10:], make([]byte, 10)) {
		t.Errorf("after shrink+grow: bytes 10..20 = %v, want zeros", got[10:])
	}
}

func testFtruncate(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	_, err = f.Pwrite([]byte("0123456789"), 0)
	must(t, err, "pwrite")
	must(t, f.Truncate(4), "ftruncate 4")
	st, _ := f.Stat()
	if st.Size != 4 {
		t.Errorf("size after ftruncate(4): got %d", st.Size)
	}
	must(t, f.Truncate(8), "ftruncate 8")
	buf := make([]byte, 16)
	n, err := f.Pread(buf, 0)
	if err != nil || !bytes.Equal(buf[:n], []byte("0123\x00\x00\x00\x00")) {
		t.Errorf("content: got %q, %v", buf[:n], err)
	}
	if st := stat(t, s, "f"); st.Size != 8 {
		t.Errorf("Stat size: got %d, want 8", st.Size)
	}
}

func testTruncateErrors(t *testing.T, s fs.Service) {
	mkdir(t, s, "d")
	wantErrno(t, s.Truncate(ctx(t), "d", 0), syscall.EISDIR, "truncate a directory")
	writeFile(t, s, "f", []byte("abc"), 0o644)
	symlink(t, s, "f", "link")
	must(t, s.Truncate(ctx(t), "link", 1), "truncate through symlink")
	if st := stat(t, s, "f"); st.Size != 1 {
		t.Errorf("target size after truncate through link: got %d, want 1", st.Size)
	}
}

func testSync(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	_, err = f.Pwrite([]byte("synced"), 0)
	must(t, err, "pwrite")
	must(t, f.Sync(false), "fsync")
	must(t, f.Sync(true), "fdatasync")
	must(t, f.Close(), "close")
	if got := readFile(t, s, "f"); string(got) != "synced" {
		t.Errorf("content: got %q", got)
	}
}

func testFallocate(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	must(t, f.Allocate(0, 0, 1<<20), "fallocate 1 MiB")
	st, err := f.Stat()
	must(t, err, "fstat")
	if st.Size != 1<<20 {
		t.Errorf("size after fallocate: got %d, want %d", st.Size, 1<<20)
	}
	if st.Blocks*512 < 1<<20 {
		t.Errorf("blocks after fallocate: got %d (x512 = %d), want >= 1 MiB", st.Blocks, st.Blocks*512)
	}
	buf := make([]byte, 4096)
	n, err := f.Pread(buf, 1<<19)
	if err != nil || n != 4096 || !bytes.Equal(buf, make([]byte, 4096)) {
		t.Errorf("reading allocated range: got (%d, %v), want 4096 zeros", n, err)
	}
	wantOneOf(t, f.Allocate(0, -1, 10), "fallocate at -1", syscall.EINVAL)
	wantOneOf(t, f.Allocate(0, 0, 0), "fallocate length 0", syscall.EINVAL)
}

func testFallocateFlags(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	data := pattern(64<<10, 5)
	_, err = f.Pwrite(data, 0)
	must(t, err, "pwrite")
	err = f.Allocate(unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20)
	if err == nil {
		if st, _ := f.Stat(); st.Size != int64(len(data)) {
			t.Errorf("size after KEEP_SIZE: got %d, want %d", st.Size, len(data))
		}
	} else {
		wantErrno(t, err, syscall.EOPNOTSUPP, "FALLOC_FL_KEEP_SIZE")
	}
	err = f.Allocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, 8192)
	if err != nil {
		wantErrno(t, err, syscall.EOPNOTSUPP, "FALLOC_FL_PUNCH_HOLE")
		return
	}
	got := readAll(t, f, "f")
	want := append([]byte(nil), data...)
	copy(want[4096:4096+8192], make([]byte, 8192))
	if !bytes.Equal(got, want) {
		t.Errorf("after punching 4096+8192: content differs from the expected zeros in the hole only")
	}
}

const sparseSize = 64 << 20

func makeSparse(t *testing.T, s fs.Service) fs.File {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	t.Cleanup(func() { f.Close() })
	_, err = f.Pwrite([]byte("head"), 0)
	must(t, err, "pwrite at 0")
	_, err = f.Pwrite([]byte("tail"), sparseSize-4)
	must(t, err, "pwrite at the end")
	return f
}

func testSparseZeros(t *testing.T, s fs.Service) {
	f := makeSparse(t, s)
	buf := make([]byte, 1<<20)
	n, err := f.Pread(buf, 32<<20)
	if err != nil || n != len(buf) || !bytes.Equal(buf, make([]byte, len(buf))) {
		t.Errorf("reading the hole: got (%d, %v), want 1 MiB of zeros", n, err)
	}
	n, err = f.Pread(buf[:8], sparseSize-6)
	if err != nil || string(buf[:n]) != "\x00\x00tail" {
		t.Errorf("reading across hole end: got (%q, %v), want \"\\0\\0tail\"", buf[:n], err)
	}
	if st := stat(t, s, "f"); st.Size != sparseSize {
		t.Errorf("size: got %d, want %d", st.Size, sparseSize)
	}
}

func testSparseBlocks(t *testing.T, s fs.Service) {
	f := makeSparse(t, s)
	st, err := f.Stat()
	must(t, err, "fstat")
	if st.Blocks*512 >= sparseSize/2 {
		t.Errorf("sparse file of %d bytes uses %d blocks (x512 = %d), want far fewer", sparseSize, st.Blocks, st.Blocks*512)
	}
	if st.Blocks == 0 {
		t.Errorf("file with 8 written bytes reports 0 blocks")
	}
}

func testLargeOffset(t *testing.T, s fs.Service) {
	const off = 5 << 30
	f, err := s.Open(ctx(t), "big", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	data := pattern(8192, 77)
	n, err := f.Pwrite(data, off)
	if err != nil || n != len(data) {
		t.Fatalf("pwrite at 5 GiB: got (%d, %v)", n, err)
	}
	if st := stat(t, s, "big"); st.Size != off+int64(len(data)) {
		t.Errorf("size: got %d, want %d", st.Size, off+int64(len(data)))
	}
	buf := make([]byte, len(data)+10)
	n, err = f.Pread(buf, off)
	if err != nil || n != len(data) || !bytes.Equal(buf[:n], data) {
		t.Errorf("pread at 5 GiB: got (%d, %v), want %d matching bytes", n, err, len(data))
	}
	n, err = f.Pread(buf[:16], 1<<32)
	if err != nil || n != 16 || !bytes.Equal(buf[:16], make([]byte, 16)) {
		t.Errorf("pread at 4 GiB (hole): got (%d, %v), want 16 zeros", n, err)
	}
	must(t, f.Truncate(off-1), "ftruncate below 5 GiB")
	if st, _ := f.Stat(); st.Size != off-1 {
		t.Errorf("size after ftruncate: got %d, want %d", st.Size, off-1)
	}
}

func testUnlinkedOpen(t *testing.T, s fs.Service) {
	writeFile(t, s, "f", []byte("still here"), 0o644)
	f, err := s.Open(ctx(t), "f", unix.O_RDWR, 0)
	must(t, err, "open")
	defer f.Close()
	must(t, s.Unlink(ctx(t), "f"), "unlink")
	if exists(t, s, "f") {
		t.Fatalf("f still listed after unlink")
	}
	if got := readAll(t, f, "f"); string(got) != "still here" {
		t.Errorf("read after unlink: got %q, want %q", got, "still here")
	}
	_, err = f.Pwrite([]byte("!"), 10)
	must(t, err, "pwrite after unlink")
	st, err := f.Stat()
	must(t, err, "fstat after unlink")
	if st.Nlink != 0 || st.Size != 11 {
		t.Errorf("fstat after unlink: got nlink %d size %d, want 0 and 11", st.Nlink, st.Size)
	}
	writeFile(t, s, "f", []byte("new"), 0o644)
	if got := readAll(t, f, "f"); string(got) != "still here!" {
		t.Errorf("old handle after re-create: got %q, want %q", got, "still here!")
	}
}

func testHandleSurvivesRename(t *testing.T, s fs.Service) {
	mkdir(t, s, "d1")
	mkdir(t, s, "d2")
	writeFile(t, s, "d1/f", []byte("abc"), 0o644)
	f, err := s.Open(ctx(t), "d1/f", unix.O_RDWR, 0)
	must(t, err, "open")
	defer f.Close()
	before, _ := f.Stat()
	must(t, s.Rename(ctx(t), "d1/f", "d2/g", 0), "rename")
	_, err = f.Pwrite([]byte("XYZ"), 3)
	must(t, err, "pwrite after rename")
	if got := readFile(t, s, "d2/g"); string(got) != "abcXYZ" {
		t.Errorf("renamed file content: got %q, want %q", got, "abcXYZ")
	}
	after, _ := f.Stat()
	if after.Ino != before.Ino {
		t.Errorf("inode changed across rename: got %d, want %d", after.Ino, before.Ino)
	}
}

func testODirect(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR|unix.O_DIRECT, 0o644)
	if err == nil {
		defer f.Close()
	}
	must(t, err, "open O_DIRECT")
	aligned := pattern(64<<10, 11)
	n, err := f.Pwrite(aligned, 0)
	if err != nil || n != len(aligned) {
		t.Fatalf("aligned pwrite: got (%d, %v)", n, err)
	}
	// Unaligned offset, length and buffer.
	odd := pattern(1001, 12)
	n, err = f.Pwrite(odd[1:], 777)
	if err != nil || n != 1000 {
		t.Fatalf("unaligned pwrite: got (%d, %v)", n, err)
	}
	want := append([]byte(nil), aligned...)
	copy(want[777:], odd[1:])
	buf := make([]byte, 3000)
	n, err = f.Pread(buf[1:], 500)
	if err != nil || n != 2999 || !bytes.Equal(buf[1:1+n], want[500:500+2999]) {
		t.Errorf("unaligned pread: got (%d, %v), want 2999 matching bytes", n, err)
	}
	// A buffered handle sees the same bytes.
	if got := readFile(t, s, "f"); !bytes.Equal(got, want) {
		t.Errorf("buffered read of O_DIRECT-written file differs")
	}
	// Unaligned read across EOF.
	n, err = f.Pread(buf, int64(len(want)-10))
	if err != nil || n != 10 || !bytes.Equal(buf[:n], want[len(want)-10:]) {
		t.Errorf("pread across EOF: got (%d, %v), want the last 10 bytes", n, err)
	}
}

func testCopyFileRange(t *testing.T, s fs.Service) {
	data := pattern(200_000, 21)
	writeFile(t, s, "src", data, 0o644)
	src, err := s.Open(ctx(t), "src", unix.O_RDONLY, 0)
	must(t, err, "open src")
	defer src.Close()
	cfr, ok := src.(fs.CopyFileRanger)
	if !ok {
		t.Skip("the service's files do not implement fs.CopyFileRanger")
	}
	dst, err := s.Open(ctx(t), "dst", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "open dst")
	defer dst.Close()
	n, err := cfr.CopyFileRange(1000, dst, 10, 150_000)
	if err != nil || n != 150_000 {
		t.Fatalf("copy_file_range: got (%d, %v), want 150000", n, err)
	}
	n, err = cfr.CopyFileRange(190_000, dst, 150_010, 50_000)
	if err != nil || n != 10_000 {
		t.Errorf("copy_file_range across EOF: got (%d, %v), want 10000", n, err)
	}
	got := readAll(t, dst, "dst")
	want := append(make([]byte, 10), data[1000:151_000]...)
	want = append(want, data[190_000:]...)
	if !bytes.Equal(got, want) {
		t.Errorf("copied content differs: got %d bytes, want %d", len(got), len(want))
	}
}

func testReadOwnWrites(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	g, err := s.Open(ctx(t), "f", unix.O_RDONLY, 0)
	must(t, err, "second open")
	defer g.Close()
	for i := 0; i < 50; i++ {
		data := pattern(100+i, byte(i))
		_, err := f.Pwrite(data, int64(i*37))
		must(t, err, "pwrite")
		buf := make([]byte, len(data))
		n, err := g.Pread(buf, int64(i*37))
		if err != nil || !bytes.Equal(buf[:n], data) {
			t.Fatalf("write %d not visible through a second handle: got (%d, %v)", i, n, err)
		}
	}
}
