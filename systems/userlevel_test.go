package systems

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"polytropon/ipc/shm"
	"polytropon/ipc/wire"
	"polytropon/runner/pool"
)

// userlevelHelperEnv turns the test binary into a Go workload inside a pool
// (an init function, so it works whatever TestMain the package has).
const userlevelHelperEnv = "POLYTROPON_SYSTEMS_D_HELPER"

func init() {
	if os.Getenv(userlevelHelperEnv) == "" {
		return
	}
	if err := userlevelHelper(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// userlevelHelper opens the container's filesystem through the "client"
// opener, reads the image file, writes its own file.
func userlevelHelper() error {
	var c Container
	if err := json.Unmarshal([]byte(os.Getenv("CONTAINER")), &c); err != nil {
		return err
	}
	ctx := context.Background()
	svc, err := OpenFS(ctx, c)
	if err != nil {
		return err
	}
	defer svc.Close()
	f, err := svc.Open(ctx, "image.txt", syscall.O_RDONLY, 0)
	if err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, _ := f.Pread(buf, 0)
	f.Close()
	w, err := svc.Open(ctx, "mine.txt", syscall.O_CREAT|syscall.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	w.Pwrite([]byte(os.Getenv("WHO")), 0)
	w.Close()
	fmt.Printf("image=%q\n", buf[:n])
	return nil
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// polytroponBinary builds the service binary once per test run.
func polytroponBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "polytropon-systems-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "polytropon")
		out, err := exec.Command("go", "build", "-o", binPath, "polytropon/cmd/polytropon").CombinedOutput()
		if err != nil {
			out2, err2 := exec.Command("go", "build", "-o", binPath, "polytropon/fs/service/internal/serve").CombinedOutput()
			if err2 != nil {
				binErr = fmt.Errorf("building the service: %v\n%s\n%s", err2, out, out2)
			}
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func TestUserlevelSetupTeardown(t *testing.T) {
	p := newTestPool(t)
	bin := polytroponBinary(t)
	defer os.RemoveAll(filepath.Dir(bin))
	s, err := Lookup("D")
	if err != nil {
		t.Fatal(err)
	}
	lower := t.TempDir()
	os.WriteFile(filepath.Join(lower, "image.txt"), []byte("from the image"), 0o644)
	work := t.TempDir()
	in, err := s.Setup(t.Context(), p, Request{Pool: 0, Containers: 2, WorkDir: work, Lower: lower,
		Backend: "local", Options: map[string]string{"binary": bin, "pin": "true", "buffers": "8", "buffer_size": "65536", "cache": "true", "cache_capacity": "8M"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Teardown(context.Background()) })
	for i := 0; i < 2; i++ {
		c := in.Container(i)
		if c.FS.Kind != ClientKind || !strings.HasPrefix(c.Dir, work) {
			t.Errorf("container %d: %+v", i, c)
		}
		js, _ := json.Marshal(c)
		var out, errb bytes.Buffer
		err := p.Run(t.Context(), pool.Cmd{Path: os.Args[0], Args: []string{os.Args[0], "-test.run=^$"},
			Env:    append(os.Environ(), userlevelHelperEnv+"=1", "CONTAINER="+string(js), fmt.Sprintf("WHO=container%d", i)),
			Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatalf("workload in container %d: %v\n%s", i, err, errb.String())
		}
		if got := strings.TrimSpace(out.String()); got != `image="from the image"` {
			t.Errorf("container %d read %q", i, got)
		}
	}
	// The segment lives in the pool's IPC namespace, not the host's.
	if seg, err := shm.Open(wire.SegmentKey(p.Name())); err == nil {
		seg.Detach()
		t.Error("the pool's service segment is visible from the host namespace")
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("teardown: %v", err)
	}
	// The cache (write-back) flushed on teardown at the latest.
	for i := 0; i < 2; i++ {
		got, err := os.ReadFile(filepath.Join(work, fmt.Sprintf("c%d", i), "upper", "mine.txt"))
		if err != nil || string(got) != fmt.Sprintf("container%d", i) {
			t.Errorf("container %d upper: %q %v", i, got, err)
		}
	}
	if ents, _ := os.ReadDir(lower); len(ents) != 1 {
		t.Errorf("the shared image has %d entries, want 1 (unchanged)", len(ents))
	}
	if err := in.Teardown(context.Background()); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

func TestUserlevelRejectsBadRequests(t *testing.T) {
	for name, req := range map[string]Request{
		"unknown option":  {Containers: 1, WorkDir: t.TempDir(), Options: map[string]string{"colour": "red"}},
		"no containers":   {Containers: 0, WorkDir: t.TempDir()},
		"bad backend":     {Containers: 1, WorkDir: t.TempDir(), Backend: "nfs"},
		"bad buffers":     {Containers: 1, WorkDir: t.TempDir(), Options: map[string]string{"buffers": "many"}},
		"cache opts only": {Containers: 1, WorkDir: t.TempDir(), Options: map[string]string{"cache_capacity": "1M"}},
		"missing lower":   {Containers: 1, WorkDir: t.TempDir(), Lower: "/nonexistent/image"},
	} {
		s := &userlevelSystem{}
		if _, err := s.Setup(t.Context(), nil, req); err == nil {
			t.Errorf("%s: Setup succeeded", name)
		}
	}
	// The generated configuration with a cache validates and round-trips.
	cfg, cs, err := userlevelConfig("p1", Request{Containers: 2, WorkDir: t.TempDir(), Lower: t.TempDir(),
		Options: map[string]string{"cache": "true", "cache_capacity": "64M"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Instances) != 2 || cfg.Instances[0].Stack[0].Type != "cache" || cfg.Instances[0].Stack[1].Type != "union" {
		t.Errorf("config %+v", cfg.Instances)
	}
	if cs[1].FS.Options["pool"] != "p1" || cs[1].ProcEnv[0] != "POLYTROPON_POOL=p1" {
		t.Errorf("container %+v", cs[1])
	}
}
