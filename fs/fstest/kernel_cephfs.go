package fstest

import (
	"fmt"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// KernelCephFS tells the suite that the service is a kernel CephFS mount
// seen through plain kernel calls (fs/hostfs over mount -t ceph; Linux
// 6.1's client, Ceph 16 "Pacific"), the reference for the Ceph-backed
// systems. In the cases where that client differs from a local file system
// (kernelCephFSDiffers; docs/testbed.md lists them) the suite asserts what
// the client does instead, so a client that changes fails there too.
func KernelCephFS() Option {
	return func(c *config) {
		for name, d := range kernelCephFSDiffers {
			c.differs[name] = d
		}
	}
}

const noreplaceHow = "renameat2 with RENAME_NOREPLACE to a free name fails with EINVAL: the client takes no rename flags " +
	"(over an existing name the VFS answers EEXIST before the client is asked)"

var kernelCephFSDiffers = map[string]difference{
	"rename_noreplace_eexist":              {noreplaceHow, noreplaceRefused},
	"concurrent_rename_noreplace_one_wins": {noreplaceHow, concurrentNoreplaceRefused},
	"fallocate": {"fallocate reserves nothing: mode 0 and KEEP_SIZE alone fail with EOPNOTSUPP; " +
		"only PUNCH_HOLE|KEEP_SIZE works", fallocateOnlyPunches},
	"sparse_file_blocks": {"st_blocks is the size in 512-byte units, holes included: the client derives it from the size",
		blocksFromSize},
	"stat_mtime_ctime_move_on_write": {"a directory's mtime set with utimens does not move at once when an entry is " +
		"created in it (the MDS folds the entry's time into the directory lazily); a file's mtime moves on write",
		dirMtimeLags},
}

// noreplaceRefused: RENAME_NOREPLACE fails with EEXIST over an existing
// name and with EINVAL to a free one, changing nothing; a plain rename
// works.
func noreplaceRefused(t *testing.T, s fs.Service) {
	writeFile(t, s, "a", []byte("A"), 0o644)
	writeFile(t, s, "b", []byte("B"), 0o644)
	wantErrno(t, s.Rename(ctx(t), "a", "b", unix.RENAME_NOREPLACE), syscall.EEXIST, "RENAME_NOREPLACE over a file")
	wantErrno(t, s.Rename(ctx(t), "a", "c", unix.RENAME_NOREPLACE), syscall.EINVAL, "RENAME_NOREPLACE to a free name")
	_, err := s.Stat(ctx(t), "c")
	wantErrno(t, err, syscall.ENOENT, "the free name after a refused rename")
	for name, want := range map[string]string{"a": "A", "b": "B"} {
		if got := readFile(t, s, name); string(got) != want {
			t.Errorf("%s changed by a refused rename: got %q", name, got)
		}
	}
	must(t, s.Rename(ctx(t), "a", "c", 0), "plain rename to a free name")
}

// concurrentNoreplaceRefused: eight RENAME_NOREPLACE to one free name at
// once all fail with EINVAL; none lands and every source stays.
func concurrentNoreplaceRefused(t *testing.T, s fs.Service) {
	for i := range 8 {
		writeFile(t, s, srcName(i), []byte{byte(i)}, 0o644)
	}
	run(t, 8, func(i int) error {
		if err := s.Rename(ctx(t), srcName(i), "dst", unix.RENAME_NOREPLACE); fs.Errno(err) != syscall.EINVAL {
			return fmt.Errorf("RENAME_NOREPLACE of %s to a free name: got %v, want EINVAL", srcName(i), err)
		}
		return nil
	})
	_, err := s.Stat(ctx(t), "dst")
	wantErrno(t, err, syscall.ENOENT, "dst after refused renames")
	for i := range 8 {
		if got := readFile(t, s, srcName(i)); len(got) != 1 || int(got[0]) != i {
			t.Errorf("%s: got %v, want byte %d", srcName(i), got, i)
		}
	}
}

func srcName(i int) string { return fmt.Sprintf("src%d", i) }

// fallocateOnlyPunches: reserving space fails with EOPNOTSUPP and leaves
// the file as it was; bad ranges are EINVAL first; punching a hole works.
func fallocateOnlyPunches(t *testing.T, s fs.Service) {
	f, err := s.Open(ctx(t), "f", unix.O_CREAT|unix.O_RDWR, 0o644)
	must(t, err, "create")
	defer f.Close()
	wantErrno(t, f.Allocate(0, 0, 1<<20), syscall.EOPNOTSUPP, "fallocate 1 MiB")
	wantErrno(t, f.Allocate(unix.FALLOC_FL_KEEP_SIZE, 0, 1<<20), syscall.EOPNOTSUPP, "fallocate KEEP_SIZE")
	if st, err := f.Stat(); err != nil || st.Size != 0 {
		t.Errorf("size after refused fallocates: got (%d, %v), want 0", st.Size, err)
	}
	wantErrno(t, f.Allocate(0, -1, 10), syscall.EINVAL, "fallocate at -1")
	wantErrno(t, f.Allocate(0, 0, 0), syscall.EINVAL, "fallocate length 0")
	_, err = f.Pwrite(pattern(3*4096, 9), 0)
	must(t, err, "pwrite")
	must(t, f.Allocate(unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, 4096, 4096), "punch a hole")
}

// blocksFromSize: a 64 MiB file with 8 bytes written reports the blocks
// of all 64 MiB.
func blocksFromSize(t *testing.T, s fs.Service) {
	st, err := makeSparse(t, s).Stat()
	must(t, err, "fstat")
	if want := (st.Size + 511) / 512; st.Blocks != want {
		t.Errorf("sparse file of %d bytes: %d blocks, want %d (the size in 512-byte units)", st.Size, st.Blocks, want)
	}
}

// dirMtimeLags: a file's times move on write as anywhere, but a directory
// whose mtime was set to the past still shows it right after an entry is
// created in it.
func dirMtimeLags(t *testing.T, s fs.Service) {
	timesMoveOnFileWrite(t, s)
	mkdir(t, s, "d")
	must(t, s.Utimens(ctx(t), "d", past, 0), "utimens dir")
	writeFile(t, s, "d/x", nil, 0o644)
	if got := stat(t, s, "d").Mtime; got != past[1] {
		t.Errorf("dir mtime right after create: got %v, want still %v (the kernel client's lag)", got, past[1])
	}
}
