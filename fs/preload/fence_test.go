package preload_test

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs/preload"
	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/internal/testenv"
	"polytropon/ipc/shm"
)

// unusedKey returns a System V key with no segment behind it.
func unusedKey(t *testing.T) int {
	t.Helper()
	for i := 0; i < 100; i++ {
		k := int(rand.Int31n(1<<30)) + 1<<30
		if seg, err := shm.Open(k); err == nil {
			seg.Detach()
			continue
		}
		return k
	}
	t.Fatal("no unused System V key found")
	return 0
}

// fencedEnv is the environment of a program whose pool (key) has no
// service and whose service owns mounts.
func fencedEnv(key int, mounts ...string) []string {
	env := preload.Env(libPath, key, "")
	if len(mounts) > 0 {
		env = append(env, preload.MountsEnv(mounts))
	}
	return preload.WithEnv(os.Environ(), env)
}

func runWith(env []string, dir, name string, args ...string) (string, error) {
	ctx, cancel := contextTimeout(10 * time.Second)
	defer cancel()
	cmd := command(ctx, nil, dir, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestNoSilentFallback: a program whose environment names a pool whose
// service is not there gets ENOTCONN for paths under the service's mounts
// (sh, dd, cat, mkdir through the real library) and nothing reaches the
// host directory beneath the mount point; paths elsewhere still work; a
// library whose environment names no pool stays inert.
func TestNoSilentFallback(t *testing.T) {
	base := t.TempDir()
	mnt := filepath.Join(base, "root")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	env := fencedEnv(unusedKey(t), mnt)
	const enotconn = "Transport endpoint is not connected"
	for _, c := range [][]string{
		{"sh", "-c", "echo tenant-data > " + filepath.Join(mnt, "f")},
		{"dd", "if=/dev/zero", "of=" + filepath.Join(mnt, "h"), "bs=4k", "count=4"},
		{"cat", filepath.Join(mnt, "f")},
		{"mkdir", filepath.Join(mnt, "d")},
		{"touch", filepath.Join(mnt, "t")},
	} {
		out, err := runWith(env, base, c[0], c[1:]...)
		if err == nil || !strings.Contains(out, enotconn) {
			t.Errorf("%s: err %v, output %q; want a failure with %q", strings.Join(c, " "), err, out, enotconn)
		}
	}
	// Relative paths from a working directory under the mount, and cd
	// into it.
	if out, err := runWith(env, mnt, "sh", "-c", "echo tenant-data > g"); err == nil || !strings.Contains(out, enotconn) {
		t.Errorf("a relative path under the mount: err %v, output %q", err, out)
	}
	if out, err := runWith(env, base, "sh", "-c", "cd root"); err == nil {
		t.Errorf("cd into the mount: no error (%q)", out)
	}
	if ents, _ := os.ReadDir(mnt); len(ents) != 0 {
		t.Errorf("the host directory under the mount point got %d entries", len(ents))
	}
	// Outside the mounts the kernel serves as before.
	out := filepath.Join(base, "outside")
	if o, err := runWith(env, base, "sh", "-c", "echo ok > "+out+" && cat "+out); err != nil || o != "ok\n" {
		t.Errorf("a path outside the mounts: %v %q", err, o)
	}
	// No pool named: inert, the kernel serves the mount point's directory.
	plain := preload.WithEnv(os.Environ(), []string{"LD_PRELOAD=" + libPath, preload.MountsEnv([]string{mnt})})
	if o, err := runWith(plain, base, "sh", "-c", "echo inert > "+filepath.Join(mnt, "i")); err != nil {
		t.Errorf("no pool named: %v %q", err, o)
	}
	if _, err := os.Stat(filepath.Join(mnt, "i")); err != nil {
		t.Errorf("no pool named: the library is not inert: %v", err)
	}
}

// TestFenceLeavesFUSE: a path under a FUSE mount of the pool's service
// (the legacy interface) goes to that mount even when the library cannot
// attach the service's segment.
func TestFenceLeavesFUSE(t *testing.T) {
	testenv.RequireFUSE(t)
	p := startPool(t, poolOpts{via: viaFuse})
	env := fencedEnv(unusedKey(t), p.Root)
	f := filepath.Join(p.Root, "via-fuse")
	if o, err := runWith(env, p.Root, "sh", "-c", fmt.Sprintf("echo legacy > %s && cat %s", f, f)); err != nil || o != "legacy\n" {
		t.Fatalf("through the FUSE mount: %v %q", err, o)
	}
	if b, err := os.ReadFile(filepath.Join(p.Upper, "via-fuse")); err != nil || string(b) != "legacy\n" {
		t.Errorf("the instance's writable branch: %q, %v", b, err)
	}
}

// TestQueueRebuiltLibraryContinues: a program writing through the library
// while a pool process scribbles its request queue's header goes on after
// the service rebuilt the queue (the library waits for the new
// generation instead of declaring the service dead): its last lines reach
// the instance.
func TestQueueRebuiltLibraryContinues(t *testing.T) {
	p := startPool(t, poolOpts{args: []string{"-queues", "1"}})
	out := filepath.Join(p.Upper, "f")
	done := make(chan error, 1)
	go func() {
		_, err := runErr(p, p.Root, 60*time.Second, "sh", "-c", "i=0; while [ $i -lt 400 ]; do i=$((i+1)); echo $i >> f; done")
		done <- err
	}()
	if !waitFor(20*time.Second, func() bool { b, _ := os.ReadFile(out); return len(b) > 60 }) {
		t.Fatal("the program wrote nothing")
	}
	seg, err := shm.Open(p.Key)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Detach()
	w, err := wire.Open(seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	_, st, _ := w.QueueMem(0)
	wiretest.Apply(w, wiretest.At(wiretest.KindQueueHead, 0, 0, true, 0xbad))
	if !waitFor(5*time.Second, func() bool { return st.Generation() != 0 }) {
		t.Fatalf("queue 0 not rebuilt; log:\n%s", p.Log)
	}
	if err := <-done; err != nil {
		t.Logf("the program: %v (a call caught in the quarantine fails with EIO)", err)
	}
	b, _ := os.ReadFile(out)
	if lines := strings.Split(strings.TrimSpace(string(b)), "\n"); lines[len(lines)-1] != "400" {
		t.Errorf("the program stopped reaching the service after the rebuild: last line %q of %d", lines[len(lines)-1], len(lines))
	}
}
