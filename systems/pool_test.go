package systems

import (
	"context"
	"errors"
	"fmt"
	"os"
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
