package service

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs/fuse"
	"polytropon/ipc/shm"
)

// TestOrphansAfterKill: a service killed with SIGKILL leaves its segment
// and its FUSE mount; FindOrphans reports them with the process still
// attached, ReportOrphans -remove removes segment and mount, and a live
// service is never reported.
func TestOrphansAfterKill(t *testing.T) {
	needFuse(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[[instance]]\npath = %q\nfuse = true\nstack = [{type = \"local\", dir = %q}]\n", root, dir)
	sp, ok := startServe(t, cfg)
	if !ok {
		t.Fatalf("the service did not start; log:\n%s", sp.Log)
	}
	live, ok := startServe(t, fmt.Sprintf("[[instance]]\npath = \"/live\"\nstack = [{type = \"local\", dir = %q}]\n", dir))
	if !ok {
		t.Fatalf("the second service did not start; log:\n%s", live.Log)
	}
	// This process stays attached, as a client would.
	seg, err := shm.Open(sp.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Detach()
	pid := sp.Pid()
	sp.Kill()
	t.Cleanup(func() {
		if ok, _ := fuse.IsMounted("/proc/self/mountinfo", root); ok {
			unix.Unmount(root, unix.MNT_DETACH) // a failed test's leftover
		}
	})

	orphans, err := FindOrphans(sp.Key, live.Key)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) != 1 {
		t.Fatalf("%d orphans among the killed and the live service, want 1: %+v", len(orphans), orphans)
	}
	o := orphans[0]
	if o.Key != sp.Key || o.ServicePid != pid || !slices.Contains(o.Instances, root) || !slices.Contains(o.Processes, os.Getpid()) {
		t.Errorf("orphan %+v: want key %#x, pid %d, instance %s, this process (%d) attached", o, sp.Key, pid, root, os.Getpid())
	}
	if !slices.Contains(o.Mounts, root) {
		t.Errorf("orphan mounts %q, want the dead FUSE mount %s", o.Mounts, root)
	}

	var out bytes.Buffer
	if err := ReportOrphans(&out, true, sp.Key); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{fmt.Sprintf("key %#x", sp.Key), fmt.Sprintf("service pid %d (gone)", pid), "instance " + root,
		fmt.Sprintf("process %d", os.Getpid()), "removed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if s, err := shm.Open(sp.Key); err == nil {
		s.Detach()
		t.Errorf("the orphan's segment is still there")
	}
	if fuseMounted(t, root) {
		t.Errorf("the orphan's FUSE mount is still there")
	}
	if again, _ := FindOrphans(sp.Key, live.Key); len(again) != 0 {
		t.Errorf("orphans after the removal: %+v", again)
	}
}

// TestOrphansRemovedInOneCall: the orphans of several services killed
// with SIGKILL are all listed and all removed by one ReportOrphans with
// remove; a segment removed while processes still hold it (IPC_RMID
// leaves it listed under key 0 until the last detach) is no orphan any
// more and is not listed again.
func TestOrphansRemovedInOneCall(t *testing.T) {
	dir := t.TempDir()
	var keys, ids []int
	for i := 0; i < 3; i++ {
		sp, ok := startServe(t, fmt.Sprintf("[[instance]]\npath = \"/orphan%d\"\nstack = [{type = \"local\", dir = %q}]\n", i, dir))
		if !ok {
			t.Fatalf("service %d did not start; log:\n%s", i, sp.Log)
		}
		// This process stays attached to the first two, as clients would.
		if i < 2 {
			seg, err := shm.Open(sp.Key)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { seg.Detach() })
			ids = append(ids, seg.ID())
		}
		sp.Kill()
		keys = append(keys, sp.Key)
	}
	orphans, err := FindOrphans(keys...)
	if err != nil {
		t.Fatal(err)
	}
	if len(orphans) != len(keys) {
		t.Fatalf("%d orphans of %d killed services: %+v", len(orphans), len(keys), orphans)
	}
	var out bytes.Buffer
	if err := ReportOrphans(&out, true, keys...); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "  removed"); n != len(keys) {
		t.Errorf("%d orphans removed in one call, want %d:\n%s", n, len(keys), out.String())
	}
	for _, k := range keys {
		if s, err := shm.Open(k); err == nil {
			s.Detach()
			t.Errorf("the segment of key %#x is still there:\n%s", k, out.String())
		}
	}
	// Listed with no key filter, none of them (the two still attached
	// here are listed by the kernel under key 0 until this process
	// detaches) is an orphan any more.
	all, err := FindOrphans()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all {
		if slices.Contains(keys, o.Key) || slices.Contains(ids, o.SegmentID) {
			t.Errorf("a removed segment is listed again: %+v", o)
		}
	}
}
