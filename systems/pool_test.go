package systems

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"polytropon/internal/testenv"
	"polytropon/runner/pool"
)

// The tests set systems up in real pools: runner/pool provisions them, as
// the runner does (runner/systempool.go adapts them the same way). This is
// the one place where systems' tests reach a floor above it, for the real
// component that implements Pool.

// testPool is a real pool as a systems.Pool; its Run and the embedded
// pool's Start remain for the tests' own processes.
type testPool struct{ *pool.Pool }

func (p testPool) Start(ctx context.Context, c Cmd) (Process, error) {
	proc, err := p.Pool.Start(ctx, pool.Cmd(c))
	if err != nil {
		return nil, err
	}
	return proc, nil
}

// newTestPool provisions a real pool (cgroups + namespaces) for one test.
func newTestPool(t *testing.T) testPool {
	t.Helper()
	testenv.RequireRoot(t, "cgroups, namespaces, mount, losetup")
	cores, err := pool.HostCores()
	if err != nil {
		t.Fatal(err)
	}
	p, err := pool.Create(t.Context(), pool.Spec{
		Name: "t0", Cores: cores[:1], MemoryBytes: 1 << 30, Namespaces: true,
		Group: fmt.Sprintf("polytropon-test/systems-%d", os.Getpid()),
	})
	if errors.Is(err, pool.ErrUnavailable) {
		t.Skipf("pools unavailable here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Destroy(context.Background()); err != nil {
			t.Errorf("destroy pool: %v", err)
		}
	})
	return testPool{p}
}

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// clientReadsImage runs the Go client of container c in the pool (this
// test binary, re-executed as the D helper) as tenant who, and checks it
// reads the shared image's file.
func clientReadsImage(t *testing.T, p testPool, c Container, who string) {
	t.Helper()
	js, _ := json.Marshal(c)
	var out, errb bytes.Buffer
	err := p.Run(t.Context(), pool.Cmd{Path: os.Args[0], Args: []string{os.Args[0], "-test.run=^$"},
		Env:    append(os.Environ(), userlevelHelperEnv+"=1", "CONTAINER="+string(js), "WHO="+who),
		Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatalf("Go client of %s: %v\n%s", who, err, errb.String())
	}
	if got := strings.TrimSpace(out.String()); got != `image="from the image"` {
		t.Errorf("%s read %q", who, got)
	}
}

// tornDownTwice tears in down twice (the second must be a no-op) and checks
// that no mount under work is left in the pool or on the host.
func tornDownTwice(t *testing.T, in Instance, engineMounts, work string) {
	t.Helper()
	if err := in.Teardown(t.Context()); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if err := in.Teardown(t.Context()); err != nil {
		t.Fatalf("second teardown: %v", err)
	}
	if got := mountsUnder(t, engineMounts, work); len(got) != 0 {
		t.Errorf("mounts left in the pool: %v", got)
	}
	if got := mountsUnder(t, "/proc/self/mountinfo", work); len(got) != 0 {
		t.Errorf("mounts left on the host: %v", got)
	}
}
