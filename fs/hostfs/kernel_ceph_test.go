package hostfs

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	pfs "polytropon/fs"
	"polytropon/fs/fstest"
	"polytropon/internal/testenv"
)

// TestHostFSConformanceKernelCephFS runs the conformance suite on a kernel
// CephFS mount (HostFS is plain kernel calls, so the suite sees the kernel
// client), as the reference for the Ceph-backed systems. Where the kernel
// client differs from a local file system (fstest.KernelCephFS, listed in
// docs/testbed.md) the suite asserts what it does instead: nothing skips.
func TestHostFSConformanceKernelCephFS(t *testing.T) {
	testenv.RequireRoot(t, "mount -t ceph")
	conf := testenv.CephConf(t)
	if err := exec.Command("modprobe", "ceph").Run(); err != nil {
		testenv.Unavailable(t, "needs the kernel CephFS client (modprobe ceph: "+err.Error()+"; scripts/guest.sh runs a kernel with it)")
	}
	testenv.RequireTool(t, "mount.ceph", "ceph-common")
	mnt := t.TempDir()
	// mount.ceph finds the monitors and the admin key through the conf.
	opts := "name=admin,conf=" + conf
	if k := filepath.Join(filepath.Dir(conf), "keyring"); fileExists(k) {
		opts += ",secretfile=" + secretFile(t, k)
	}
	if out, err := exec.Command("mount", "-t", "ceph", ":/", mnt, "-o", opts).CombinedOutput(); err != nil {
		t.Fatalf("mount -t ceph :/ %s -o %s: %v: %s", mnt, opts, err, out)
	}
	base := filepath.Join(mnt, "polytropon-fstest-"+strings.ReplaceAll(t.Name(), "/", "_")+"-"+itoa(os.Getpid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		exec.Command("umount", mnt).Run()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(base)
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	newService := func(t *testing.T) pfs.Service {
		dir, err := os.MkdirTemp(base, "case-")
		if err != nil {
			t.Fatal(err)
		}
		h, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	fstest.Run(t, newService, fstest.KernelCephFS(), absoluteLinksOnHost)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// secretFile writes the key of a keyring (its "key = ..." line) to a file
// of its own, as mount.ceph's secretfile option wants it.
func secretFile(t *testing.T, keyring string) string {
	t.Helper()
	data, err := os.ReadFile(keyring)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && strings.TrimSpace(k) == "key" {
			f := filepath.Join(t.TempDir(), "secret")
			if err := os.WriteFile(f, []byte(strings.TrimSpace(v)+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("%s: no key line", keyring)
	return ""
}

func itoa(n int) string { return strconv.Itoa(n) }
