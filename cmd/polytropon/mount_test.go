package main

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/fuse"
	"polytropon/internal/testenv"
)

func requireFUSEMount(t *testing.T) {
	t.Helper()
	testenv.RequireFUSE(t)
	testenv.RequireRoot(t, "the mount command mounts with mount(2)")
}

// startMount runs the mount command in this process, as main would, and
// returns once it has said it is mounted. done yields its result.
func startMount(t *testing.T, args ...string) (done <-chan error) {
	t.Helper()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	ch := make(chan error, 1)
	go func() {
		err := runMount(pw, &stderr, args)
		pw.Close()
		ch <- err
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	go io.Copy(io.Discard, pr)
	if err != nil || !strings.HasPrefix(line, "mounted ") {
		t.Fatalf("mount said %q (%v), stderr %q; want \"mounted ...\"", line, err, stderr.String())
	}
	return ch
}

func waitDone(t *testing.T, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("mount command: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("mount command did not return 30 s after it was told to stop")
	}
}

// TestMountCommandUnionSIGTERM mounts a union, writes through it and stops
// the command with SIGTERM: the mount must be gone and the lower image
// untouched.
func TestMountCommandUnionSIGTERM(t *testing.T) {
	requireFUSEMount(t)
	upper, lower, mnt := t.TempDir(), t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(lower, "img"), []byte("base\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := startMount(t, "-dir", upper, "-union", lower, mnt)
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) }) // only if the test failed midway
	if ok, _ := fuse.IsMounted("/proc/self/mountinfo", mnt); !ok {
		t.Fatalf("%s is not a %s mount", mnt, fuse.FSType)
	}
	f, err := os.OpenFile(filepath.Join(mnt, "img"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("mine\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]string{mnt: "base\nmine\n", upper: "base\nmine\n", lower: "base\n"} {
		if got, err := os.ReadFile(filepath.Join(dir, "img")); err != nil || string(got) != want {
			t.Errorf("%s/img: got (%q, %v), want %q", dir, got, err, want)
		}
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitDone(t, done)
	if ok, _ := fuse.IsMounted("/proc/self/mountinfo", mnt); ok {
		t.Errorf("%s still mounted after SIGTERM", mnt)
	}
}

// TestMountCommandExternalUnmount: fusermount3 -u ends the command too.
func TestMountCommandExternalUnmount(t *testing.T) {
	requireFUSEMount(t)
	testenv.RequireTool(t, "fusermount3", "fuse3")
	dir, mnt := t.TempDir(), t.TempDir()
	done := startMount(t, "-kernel-cache", "-dir", dir, mnt)
	if out, err := exec.Command("fusermount3", "-u", mnt).CombinedOutput(); err != nil {
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		t.Fatalf("fusermount3 -u: %v: %s", err, out)
	}
	waitDone(t, done)
}

func TestMountCommandErrors(t *testing.T) {
	dir := t.TempDir()
	for name, c := range map[string]struct {
		args []string
		want string
	}{
		"no dir":         {[]string{t.TempDir()}, "-dir is required"},
		"no mountpoint":  {[]string{"-dir", dir}, "exactly one MOUNTPOINT"},
		"two points":     {[]string{"-dir", dir, "a", "b"}, "exactly one MOUNTPOINT"},
		"missing dir":    {[]string{"-dir", filepath.Join(dir, "missing"), t.TempDir()}, "upper branch"},
		"missing lower":  {[]string{"-dir", dir, "-union", filepath.Join(dir, "missing"), t.TempDir()}, "lower branch"},
		"missing target": {[]string{"-dir", dir, filepath.Join(dir, "nowhere")}, "mount point"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runMount(&stdout, &stderr, c.args)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("mount %q: got %v, want an error mentioning %q", c.args, err, c.want)
			}
		})
	}
}
