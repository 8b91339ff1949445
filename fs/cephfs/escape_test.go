//go:build ceph && cgo

package cephfs_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/fs/fstest"
	"polytropon/internal/testenv"
)

// fuseMount mounts directory dir of the file system at a new host directory
// with ceph-fuse (as client.admin, in the foreground, as our child) and
// returns the mount point; the test's cleanup unmounts it.
func fuseMount(t *testing.T, dir string) string {
	t.Helper()
	testenv.RequireTool(t, "ceph-fuse", "ceph-fuse")
	testenv.RequireFUSE(t)
	mnt := filepath.Join(t.TempDir(), "mnt")
	must(t, os.Mkdir(mnt, 0o755), "mkdir mount point")
	var out bytes.Buffer
	cmd := exec.Command("ceph-fuse", "-f", "-c", confPath, "--id", "admin", "-r", dir, mnt)
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start(), "start ceph-fuse")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := exec.CommandContext(ctx, "fusermount3", "-u", mnt).Run(); err != nil {
			_ = exec.CommandContext(ctx, "umount", "-l", mnt).Run()
		}
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("ceph-fuse on %s did not exit after unmount; killed", mnt)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for !mounted(mnt) {
		select {
		case err := <-exited:
			t.Fatalf("ceph-fuse exited before mounting (%v): %s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("ceph-fuse did not mount %s within 30s: %s", mnt, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return mnt
}

func mounted(mnt string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
			return true
		}
	}
	return false
}

// TestEscape runs the path-escape suite. "Outside" is a sibling directory of
// the service root in the same file system, seen on the host through a
// ceph-fuse mount: a ".." or link that climbed above the client's root
// would land next to it.
func TestEscape(t *testing.T) {
	requireCeph(t)
	testenv.RequireRoot(t, "ceph-fuse")
	base := newDir(t, "escape")
	mnt := fuseMount(t, base)
	n := 0
	fstest.RunEscape(t, func(t *testing.T) (fs.Service, string) {
		n++
		c := fmt.Sprintf("c%d", n)
		for _, d := range []string{c, c + "/root", c + "/outside"} {
			must(t, admin.Mkdir(t.Context(), base[1:]+"/"+d, 0o755), "mkdir "+d)
		}
		s := mountAt(t, cephfs.Config{Root: base + "/" + c + "/root"})
		outside := filepath.Join(mnt, c, "outside")
		// The FUSE view must see what the admin client just made.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if st, err := os.Stat(outside); err == nil && st.IsDir() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s did not appear through ceph-fuse", outside)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return s, outside
	})
	// A secret written through the FUSE mount is really in the file
	// system, next to the roots: the suite guarded something real.
	got, err := admin.Lstat(t.Context(), base[1:]+"/c1/outside/secret")
	if err != nil || got.Size == 0 {
		t.Errorf("secret of case 1 not in the file system: %v (size %d)", err, got.Size)
	}
}
