package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"polytropon/fs/hostfs"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
	"polytropon/systems"
	"polytropon/workloads"
)

// What a repetition sets up before its agents: the pools, and the
// system's containers in them.

// createPools creates the point's pools on their planned cores, with
// their memory and own namespaces; over reports that they oversubscribe
// the host's cores.
func (rp *rep) createPools(ctx context.Context) (over bool, err error) {
	exp := rp.r.exp
	rp.r.prog.setPhase("creating pools")
	plan, over := pool.Plan(rp.pt.Pools, exp.Pools.CoresPerPool, len(rp.r.hostCores))
	if over {
		rp.note("oversubscribed: %d pools x %d cores on %d host cores", rp.pt.Pools, exp.Pools.CoresPerPool, len(rp.r.hostCores))
	}
	for i := range rp.pt.Pools {
		cores := make([]int, len(plan[i]))
		for j, c := range plan[i] {
			cores[j] = rp.r.hostCores[c]
		}
		p, err := pool.Create(ctx, pool.Spec{
			Name:        fmt.Sprintf("p%d", i),
			Cores:       cores,
			MemoryBytes: exp.Pools.Memory.Bytes(),
			Namespaces:  true,
			Group:       rp.r.group,
		})
		if err != nil {
			return over, fmt.Errorf("runner: creating pool %d: %w", i, err)
		}
		rp.pools = append(rp.pools, p)
	}
	return over, nil
}

// setupSystems has the system set up every pool's containers, over the
// shared image when the pools share one.
func (rp *rep) setupSystems(ctx context.Context, layout []config.Placement, over bool) error {
	rp.r.prog.setPhase("setting up " + rp.pt.System)
	var lower string
	if rp.r.exp.Pools.SharedLower {
		var err error
		if lower, err = rp.prepareLower(ctx, layout); err != nil {
			return err
		}
	}
	for i, p := range rp.pools {
		inst, err := rp.setupPool(ctx, i, p, lower, over)
		if err != nil {
			return err
		}
		rp.instances = append(rp.instances, inst)
	}
	return nil
}

// setupPool sets up the containers of pool i; nil when the point places
// none there.
func (rp *rep) setupPool(ctx context.Context, i int, p *pool.Pool, lower string, over bool) (systems.Instance, error) {
	exp := rp.r.exp
	n := exp.ContainersIn(rp.pt, i)
	if n == 0 {
		return nil, nil
	}
	wd := filepath.Join(rp.dir, fmt.Sprintf("pool%d", i))
	if err := os.MkdirAll(wd, 0o755); err != nil {
		return nil, err
	}
	opts, err := exp.SystemOptions(rp.pt.System)
	if err != nil {
		return nil, err
	}
	inst, err := rp.sys.Setup(ctx, systemPool{p}, systems.Request{
		Pool: i, Containers: n, WorkDir: wd, Lower: lower, Backend: exp.Backend,
		Options: opts, Ceph: cephCluster(exp), Tenants: pointTenants(exp, rp.pt),
		Oversubscribed: over,
		// The userlock collector reads the service's Go lock waits from
		// this snapshot file (same path in the pool).
		ServiceEnv: []string{metrics.EnvRuntimeMetricsFile + "=" + filepath.Join(wd, "serve-metrics.json")},
	})
	if err != nil {
		return nil, fmt.Errorf("runner: pool %d: %w", i, err)
	}
	return inst, nil
}

// prepareLower builds the shared read-only image of this repetition.
func (rp *rep) prepareLower(ctx context.Context, layout []config.Placement) (string, error) {
	lower := filepath.Join(rp.dir, "lower")
	if err := os.MkdirAll(lower, 0o755); err != nil {
		return "", err
	}
	seen := map[int]bool{}
	for _, pl := range layout {
		w := rp.r.exp.Workloads[pl.Workload]
		if seen[pl.Workload] || w.Role != "main" {
			continue
		}
		seen[pl.Workload] = true
		wl, err := w.DecodeAt(rp.pt)
		if err != nil {
			return "", err
		}
		if lp, ok := wl.(LowerPreparer); ok {
			err = lp.PrepareLower(ctx, lower)
		} else {
			// By default the workload's own Prepare, run once on the host
			// over the image, puts its files there; each clone's Prepare
			// then finds and reuses them (fileappend, fileread).
			err = prepareOnHost(ctx, wl, lower, seedOf(rp.r.exp.Run.Seed, rp.pt.Index, rp.index, config.Placement{Workload: pl.Workload, Pool: -1}))
		}
		if err != nil {
			return "", fmt.Errorf("runner: %s: preparing the shared image: %w", w.Name, err)
		}
	}
	return lower, nil
}

func prepareOnHost(ctx context.Context, wl workloads.Workload, dir string, seed int64) error {
	svc, err := hostfs.New(dir)
	if err != nil {
		return err
	}
	defer svc.Close()
	return wl.Prepare(ctx, &workloads.Env{Dir: dir, FS: svc, Pool: -1, Seed: seed})
}
