package client_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/fs/service/servicetest"
	"polytropon/fs/wire"
	"polytropon/internal/testenv"
	"polytropon/ipc/shm"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// svcProc is a running "polytropon serve" whose MOUNT requests may use
// directories under base.
type svcProc struct {
	*servicetest.Service
	base string // mount_dirs entry
}

type svcOpts struct {
	config  string   // TOML text (instances etc.)
	args    []string // extra flags
	cloneNS bool     // run in a new IPC namespace
	key     int      // System V key (0: a random one)
	stop    time.Duration
}

// startService starts a service with a unique key and waits for its ready
// line. Cleanup stops it (SIGTERM, then SIGKILL), removes its segment if a
// crash left it behind and reports a failed exit or a data race the
// service's race detector found (servicetest).
func startService(t testing.TB, o svcOpts) *svcProc {
	t.Helper()
	base := t.TempDir()
	args := append([]string{"-mount-dir", base, "-wait", "spin-futex", "-buffers", "32", "-buffer-size", "65536"}, o.args...)
	s := servicetest.Start(t, servicetest.Options{Key: o.key, Config: o.config, Args: args,
		NewIPCNamespace: o.cloneNS, StopTimeout: o.stop})
	return &svcProc{Service: s, base: base}
}

// dial connects a client of this process to the service.
func (sp *svcProc) dial(t testing.TB, opts client.Options) *client.Client {
	t.Helper()
	opts.Key = sp.Key
	c, err := client.Dial(context.Background(), opts)
	if err != nil {
		t.Fatalf("dial: %v; service log:\n%s", err, sp.Log)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newDir makes a fresh directory MOUNT may use.
func (sp *svcProc) newDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp(sp.base, "d")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

var mountSeq struct {
	sync.Mutex
	n int
}

func nextMount(prefix string) string {
	mountSeq.Lock()
	defer mountSeq.Unlock()
	mountSeq.n++
	return fmt.Sprintf("%s/m%d", prefix, mountSeq.n)
}

// mountLocal mounts a fresh local instance and returns its path; cleanup
// unmounts it.
func mountLocal(t testing.TB, sp *svcProc, c *client.Client) (string, string) {
	t.Helper()
	dir := sp.newDir(t)
	mp := nextMount("/t")
	if _, err := c.Mount(mp, "local", "dir="+dir, false); err != nil {
		t.Fatalf("mount %s: %v", mp, err)
	}
	t.Cleanup(func() {
		if err := c.Umount(mp); err != nil && !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("umount %s: %v", mp, err)
		}
	})
	return mp, dir
}

// waitFor polls cond until it holds or d passes.
var waitFor = servicetest.WaitFor

// openSeg attaches the service segment of key and opens its view (this
// process becomes a process of the pool); cleanup detaches it.
func openSeg(t testing.TB, key int) *wire.Seg {
	t.Helper()
	seg, err := shm.Open(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { seg.Detach() })
	w, err := wire.Open(seg.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return w
}
