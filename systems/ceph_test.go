package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"polytropon/fs/stack"
	"polytropon/internal/testenv"
)

// The Ceph systems need a cluster: scripts/test.sh exports
// POLYTROPON_CEPH_CONF (scripts/ceph-up.sh); without one Check skips them.
func TestCephFuseSetupTeardown(t *testing.T) {
	for _, name := range []string{"F-ceph", "FP-ceph", "F/F", "FP/FP"} {
		t.Run(strings.ReplaceAll(name, "/", "-"), func(t *testing.T) {
			testenv.CephConf(t)
			s := checkSystem(t, name)
			p := newTestPool(t)
			work, lower := t.TempDir(), ""
			union := strings.Contains(name, "/")
			if union {
				lower = imageLower(t)
			}
			in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower, Backend: "ceph",
				Options: &CephFuseOptions{Client: stack.CephConfig{"client_oc_size": "67108864"}}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { in.Teardown(context.Background()) })
			engineMounts := fmt.Sprintf("/proc/%d/mountinfo", p.EnginePid())
			wantMounts := 2
			if union {
				wantMounts = 2 + 1 + 2 // private ceph-fuse, shared image, unions
			}
			if got := mountsUnder(t, engineMounts, work); len(got) != wantMounts {
				t.Errorf("mounts under the work dir inside the pool: got %v, want %d", got, wantMounts)
			}
			checkContainers(t, p, in, 2, union)
			if err := in.Teardown(t.Context()); err != nil {
				t.Fatalf("teardown: %v", err)
			}
			if got := mountsUnder(t, engineMounts, work); len(got) != 0 {
				t.Errorf("mounts left inside the pool after teardown: %v", got)
			}
			if pids := poolPIDsBut(t, p); len(pids) != 0 {
				t.Errorf("processes left in the pool after teardown: %v", pids)
			}
		})
	}
}

func TestCephSystemsRefuseLocalBackend(t *testing.T) {
	s, err := Lookup("F-ceph")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "local"})
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("F-ceph on the local backend: got %v, want ErrUnavailable", err)
	}
	_, err = s.Setup(t.Context(), nil, Request{Containers: 1, WorkDir: t.TempDir(), Backend: "ceph", Options: &CephFuseOptions{Client: stack.CephConfig{"bogus": "1"}}})
	if err == nil || !strings.Contains(err.Error(), `unknown Ceph option "bogus"`) {
		t.Errorf("unknown option: got %v", err)
	}
}

func TestKernelCephUnavailable(t *testing.T) {
	have, _ := os.ReadFile("/proc/filesystems")
	if hasFilesystem(string(have), "ceph") {
		t.Skip("this kernel has a CephFS client")
	}
	for _, name := range []string{"K-ceph", "K/K-ceph", "F/K"} {
		s, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "no ceph file system") {
			t.Errorf("%s: Check got %v, want ErrUnavailable naming the missing module", name, err)
		}
	}
}
