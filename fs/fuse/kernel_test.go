package fuse_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/fs/fuse"
	"polytropon/fs/stack"
	"polytropon/internal/testenv"
)

// The mmap checks run in a child process (this test binary re-executed):
// a page fault on a FUSE file blocks its thread outside any system call,
// and if the same process serves the mount, a garbage collection that
// waits for that thread would stop the server too (go-fuse's documented
// deadlock 3).
const mmapHelperEnv = "POLYTROPON_FUSE_MMAP_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(mmapHelperEnv); spec != "" {
		if err := mmapHelper(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestReadsReachDaemon proves that passthrough is off: with kernel FUSE
// passthrough the kernel would read the backing file itself and the
// service would count no reads at all.
func TestReadsReachDaemon(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			svc := &fstest.Counting{Service: newLocal(t, t.TempDir())}
			mnt := mount(t, svc, m.opts)
			p := filepath.Join(mnt, "data")
			want := bytes.Repeat([]byte("polytropon"), 4096)
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			if svc.Pwrites.Load() == 0 {
				t.Fatalf("writing %d bytes through the mount made no Pwrite on the service", len(want))
			}
			const reads = 5
			fd, err := unix.Open(p, unix.O_RDONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			buf := make([]byte, 4096)
			for i := range reads {
				off := int64(i) * 4096
				n, err := unix.Pread(fd, buf, off)
				if err != nil || n != len(buf) || !bytes.Equal(buf, want[off:off+4096]) {
					t.Fatalf("pread at %d: got (%d, %v) or wrong data", off, n, err)
				}
			}
			got := svc.Preads.Load()
			if got == 0 {
				t.Fatalf("%d preads through the mount reached the service 0 times: passthrough is on", reads)
			}
			if !m.opts.KernelCache && got < reads {
				t.Errorf("direct I/O: %d preads reached the service %d times, want each one", reads, got)
			}
		})
	}
}

// TestExec runs a binary copied into the mount: the kernel reads and maps
// it through FUSE (the legacy path that exec needs).
func TestExec(t *testing.T) {
	src := testenv.RequireTool(t, "echo", "coreutils")
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			mnt := mount(t, newLocal(t, t.TempDir()), m.opts)
			bin := filepath.Join(mnt, "bin", "echo")
			if err := os.Mkdir(filepath.Dir(bin), 0o755); err != nil {
				t.Fatal(err)
			}
			copyFile(t, src, bin, 0o755)
			// Through sh, so that the exec of a file of the mount is not
			// done by a child of this process that the Go runtime forked
			// with vfork (go-fuse's deadlock 1c).
			out, err := exec.Command("/bin/sh", "-c", `"$0" hello from fuse`, bin).CombinedOutput()
			if err != nil {
				t.Fatalf("exec %s: %v: %s", bin, err, out)
			}
			if string(out) != "hello from fuse\n" {
				t.Fatalf("exec output: got %q, want %q", out, "hello from fuse\n")
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMmap maps a file of the mount read-only (private and shared) and
// shared writable from a child process, then checks what the service
// holds.
func TestMmap(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			backing := t.TempDir()
			mnt := mount(t, newLocal(t, backing), m.opts)
			content := bytes.Repeat([]byte("0123456789abcdef"), 1024) // 16 KiB
			if err := os.WriteFile(filepath.Join(mnt, "m"), content, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), mmapHelperEnv+"="+filepath.Join(mnt, "m"))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("mmap helper: %v\n%s", err, out)
			}
			want := append([]byte(nil), content...)
			copy(want[4096:], "written through a shared mapping")
			got, err := os.ReadFile(filepath.Join(backing, "m"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("backing file after the shared writable mapping: got %q..., want %q...", got[4096:4096+40], want[4096:4096+40])
			}
		})
	}
}

// mmapHelper is the child of TestMmap: it checks read-only private and
// shared mappings of path, then writes through a shared mapping and
// msyncs it.
func mmapHelper(path string) error {
	want, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for _, flags := range []int{unix.MAP_PRIVATE, unix.MAP_SHARED} {
		fd, err := unix.Open(path, unix.O_RDONLY, 0)
		if err != nil {
			return err
		}
		mem, err := unix.Mmap(fd, 0, len(want), unix.PROT_READ, flags)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("read-only mmap (flags %#x): %w", flags, err)
		}
		same := bytes.Equal(mem, want)
		unix.Munmap(mem)
		if !same {
			return fmt.Errorf("read-only mmap (flags %#x): content differs from read(2)", flags)
		}
	}
	fd, err := unix.Open(path, unix.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	mem, err := unix.Mmap(fd, 0, len(want), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("shared writable mmap: %w", err)
	}
	copy(mem[4096:], "written through a shared mapping")
	if err := unix.Msync(mem, unix.MS_SYNC); err != nil {
		return fmt.Errorf("msync: %w", err)
	}
	return unix.Munmap(mem)
}

// TestInodeNumbers checks that st_ino is the service's on a one-device
// service, that hard links share a number, and that a file that gets the
// number of a file unlinked through the mount reads its own content, not
// the old file's (whose pages FP may still cache).
func TestInodeNumbers(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			backing := t.TempDir()
			mnt := mount(t, newLocal(t, backing), m.opts)
			if err := os.WriteFile(filepath.Join(mnt, "a"), []byte("first"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(mnt, "a"), filepath.Join(mnt, "b")); err != nil {
				t.Fatal(err)
			}
			var viaMount, viaLink, direct unix.Stat_t
			for _, s := range []struct {
				p  string
				st *unix.Stat_t
			}{{filepath.Join(mnt, "a"), &viaMount}, {filepath.Join(mnt, "b"), &viaLink}, {filepath.Join(backing, "a"), &direct}} {
				if err := unix.Stat(s.p, s.st); err != nil {
					t.Fatal(err)
				}
			}
			if viaMount.Ino != direct.Ino || viaLink.Ino != direct.Ino {
				t.Errorf("st_ino: mount %d, link %d, backing %d; want all equal", viaMount.Ino, viaLink.Ino, direct.Ino)
			}
			if viaLink.Nlink != 2 {
				t.Errorf("nlink of a hard-linked file: got %d, want 2", viaLink.Nlink)
			}

			// Read the file (FP caches its pages), unlink both names,
			// then create files until the backing filesystem reuses the
			// number.
			if got, err := os.ReadFile(filepath.Join(mnt, "a")); err != nil || string(got) != "first" {
				t.Fatalf("read a: got (%q, %v)", got, err)
			}
			for _, n := range []string{"a", "b"} {
				if err := os.Remove(filepath.Join(mnt, n)); err != nil {
					t.Fatal(err)
				}
			}
			reused := ""
			for i := 0; i < 64 && reused == ""; i++ {
				name := fmt.Sprintf("new%d", i)
				if err := os.WriteFile(filepath.Join(mnt, name), []byte(strings.Repeat("N", 5)), 0o644); err != nil {
					t.Fatal(err)
				}
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(backing, name), &st); err != nil {
					t.Fatal(err)
				}
				if st.Ino == direct.Ino {
					reused = name
				}
			}
			if reused == "" {
				t.Logf("backing filesystem did not reuse inode %d in 64 creations; reuse not exercised", direct.Ino)
				return
			}
			got, err := os.ReadFile(filepath.Join(mnt, reused))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "NNNNN" {
				t.Errorf("new file %s with the unlinked file's inode number reads %q, want %q", reused, got, "NNNNN")
			}
		})
	}
}

// TestUnionBranchInodes mounts a union whose branches are on different
// filesystems (the ext4 temp dir and a tmpfs): numbers of the other
// device get it mixed into their high bits, so equal st_ino values of two
// branches cannot collide, and each file reads back its own content.
func TestUnionBranchInodes(t *testing.T) {
	requireFUSE(t)
	testenv.RequireRoot(t, "mounting a tmpfs branch")
	upper, lower := t.TempDir(), t.TempDir()
	if err := unix.Mount("tmpfs", lower, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(lower, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(lower, "l"), []byte("lower"), 0o644); err != nil {
		t.Fatal(err)
	}
	var lst unix.Stat_t
	if err := unix.Stat(filepath.Join(lower, "l"), &lst); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(upper, "u"), []byte("upper"), 0o644); err != nil {
		t.Fatal(err)
	}
	st := localStack(t, upper, lower)
	mnt := mount(t, st.Service, fuse.Options{})
	var ust, mst unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, "u"), &ust); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(filepath.Join(mnt, "l"), &mst); err != nil {
		t.Fatal(err)
	}
	if mst.Ino == lst.Ino {
		t.Errorf("lower file on another device kept its raw st_ino %d; want the device mixed in", lst.Ino)
	}
	if mst.Ino&0xffffffff != lst.Ino&0xffffffff {
		t.Errorf("lower file: low 32 bits of st_ino %#x differ from the branch's %#x", mst.Ino, lst.Ino)
	}
	if mst.Ino == ust.Ino {
		t.Errorf("upper and lower files share st_ino %d", ust.Ino)
	}
	for name, want := range map[string]string{"u": "upper", "l": "lower"} {
		if got, err := os.ReadFile(filepath.Join(mnt, name)); err != nil || string(got) != want {
			t.Errorf("%s: got (%q, %v), want %q", name, got, err, want)
		}
	}
}

// TestStatfsAndErrors checks statfs through the mount and that service
// errors arrive with their errno.
func TestStatfsAndErrors(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			backing := t.TempDir()
			mnt := mount(t, newLocal(t, backing), m.opts)
			var got, want unix.Statfs_t
			if err := unix.Statfs(mnt, &got); err != nil {
				t.Fatal(err)
			}
			if err := unix.Statfs(backing, &want); err != nil {
				t.Fatal(err)
			}
			if got.Blocks != want.Blocks || got.Bsize != want.Bsize {
				t.Errorf("statfs: got blocks %d bsize %d, want %d %d", got.Blocks, got.Bsize, want.Blocks, want.Bsize)
			}
			if got.Type != 0x65735546 { // FUSE_SUPER_MAGIC
				t.Errorf("statfs type: got %#x, want FUSE_SUPER_MAGIC", got.Type)
			}
			for _, c := range []struct {
				what string
				err  error
				want syscall.Errno
			}{
				{"open missing", func() error { _, err := os.Open(filepath.Join(mnt, "missing")); return err }(), syscall.ENOENT},
				{"rmdir root file", func() error {
					os.WriteFile(filepath.Join(mnt, "f"), nil, 0o644)
					return syscall.Rmdir(filepath.Join(mnt, "f"))
				}(), syscall.ENOTDIR},
				{"mkdir existing", os.Mkdir(mnt+"/f", 0o755), syscall.EEXIST},
			} {
				if got := fs.Errno(c.err); got != c.want {
					t.Errorf("%s: got %v, want %v", c.what, c.err, c.want)
				}
			}
		})
	}
}

// TestUnionDirCopyUp holds a directory of a lower branch open while a
// create inside it copies the directory up (its st_dev and st_ino change
// in the service): the open directory must stay usable, and the directory
// keeps its st_ino, as on overlayfs.
func TestUnionDirCopyUp(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			upper, lower := t.TempDir(), t.TempDir()
			if err := os.MkdirAll(filepath.Join(lower, "d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(lower, "d", "old"), []byte("lower"), 0o644); err != nil {
				t.Fatal(err)
			}
			st := localStack(t, upper, lower)
			mnt := mount(t, st.Service, m.opts)
			var before unix.Stat_t
			if err := unix.Stat(filepath.Join(mnt, "d"), &before); err != nil {
				t.Fatal(err)
			}
			dfd, err := unix.Open(filepath.Join(mnt, "d"), unix.O_RDONLY|unix.O_DIRECTORY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(dfd)
			if err := os.WriteFile(filepath.Join(mnt, "d", "new"), []byte("upper"), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(upper, "d", "new")); err != nil {
				t.Fatalf("the create did not copy the directory up: %v", err)
			}
			time.Sleep(1100 * time.Millisecond) // let FP's entry cache expire
			var after unix.Stat_t
			if err := unix.Stat(filepath.Join(mnt, "d", "old"), &after); err != nil { // a fresh lookup of d
				t.Fatal(err)
			}
			fd, err := unix.Openat(dfd, "viafd", unix.O_CREAT|unix.O_WRONLY, 0o644)
			if err != nil {
				t.Fatalf("create through the directory opened before its copy-up: %v", err)
			}
			unix.Close(fd)
			if err := unix.Fstat(dfd, &after); err != nil {
				t.Fatal(err)
			}
			if err := unix.Stat(filepath.Join(mnt, "d"), &after); err != nil {
				t.Fatal(err)
			}
			if after.Ino != before.Ino {
				t.Errorf("directory st_ino changed across its copy-up: %d -> %d", before.Ino, after.Ino)
			}
		})
	}
}

// localStack builds the union of upper over lower that polytropon mount
// serves; cleanup closes it.
func localStack(t *testing.T, upper, lower string) *stack.Stack {
	t.Helper()
	var b stack.Builder
	st, err := b.Build(stack.LocalStack(upper, lower))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// TestUnmountWithACopyInAnotherNamespace: a mount namespace made while the
// mount exists keeps a copy of it (a tenant pool created meanwhile does);
// on a host with private mounts unmounting ours leaves the connection
// alive there. Unmount must still return, aborting the connection, and the
// copy must fail with ENOTCONN rather than be served by a server that is
// going away.
func TestUnmountWithACopyInAnotherNamespace(t *testing.T) {
	requireFUSE(t)
	testenv.RequireRoot(t, "mount namespaces")
	unshare := testenv.RequireTool(t, "unshare", "util-linux")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
	mnt := t.TempDir()
	srv, err := fuse.Mount(newLocal(t, dir), mnt, fuse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	copier := exec.Command(unshare, "--mount", "--propagation", "private", "sleep", "60")
	if err := copier.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { copier.Process.Kill(); copier.Wait() }()
	info := fmt.Sprintf("/proc/%d/mountinfo", copier.Process.Pid)
	deadline := time.Now().Add(10 * time.Second)
	for {
		self, _ := os.Readlink("/proc/self/ns/mnt")
		other, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", copier.Process.Pid))
		if ok, _ := fuse.IsMounted(info, mnt); ok && other != "" && other != self {
			break
		}
		if time.Now().After(deadline) {
			srv.Detach()
			t.Fatalf("no copy of %s in the namespace of %s", mnt, unshare)
		}
		time.Sleep(10 * time.Millisecond)
	}
	unmounted := make(chan error, 1)
	go func() { unmounted <- srv.Unmount() }()
	select {
	case err := <-unmounted:
		if err != nil {
			t.Fatalf("unmount: %v", err)
		}
	case <-time.After(30 * time.Second):
		copier.Process.Kill() // releases the connection, so the test ends
		<-unmounted
		t.Fatal("Unmount waited for a copy of the mount in another namespace")
	}
	var st unix.Stat_t
	err = unix.Stat(fmt.Sprintf("/proc/%d/root%s/f", copier.Process.Pid, mnt), &st)
	if err != syscall.ENOTCONN {
		t.Errorf("the copy in the other namespace after Unmount: stat gave %v, want ENOTCONN (connection aborted)", err)
	}
}
