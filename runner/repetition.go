package runner

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"polytropon/internal/units"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
	"polytropon/systems"
	"polytropon/workloads"
)

// Instance is the outcome of one workload instance in one repetition.
type Instance struct {
	Workload    string            `json:"workload"`
	Role        string            `json:"role"` // "main" or "noise"
	Pool        int               `json:"pool"`
	Container   int               `json:"container"`
	Result      *workloads.Result `json:"result"`
	NothingToDo bool              `json:"nothing_to_do,omitempty"`
}

// Repetition is everything measured in one repetition of one point.
type Repetition struct {
	Point     int              `json:"point"`
	Index     int              `json:"index"` // 0-based repetition number
	Start     time.Time        `json:"start"`
	Wall      time.Duration    `json:"wall"` // whole repetition, setup to teardown
	Instances []Instance       `json:"instances"`
	Metrics   []metrics.Metric `json:"metrics"` // collector values of the measured window
	// Notes are non-fatal observations (a collector without data, a lazy
	// unmount, oversubscribed cores).
	Notes []string `json:"notes,omitempty"`
}

// ServicePIDer is an optional capability of a systems.Instance that runs
// filesystem-service processes (D): the collectors read user-level lock
// waits from them.
type ServicePIDer interface {
	ServicePIDs() []int
}

// LowerPreparer is an optional capability of a workload whose containers
// share a read-only image (pools.shared_lower): the runner calls it once
// per repetition on the host to fill the lower directory before the
// systems set up their unions. Without it the runner runs the workload's
// Prepare on the host over the lower directory instead.
type LowerPreparer interface {
	PrepareLower(ctx context.Context, dir string) error
}

// rep runs one repetition of a point: pools, systems, agents, collectors,
// and a teardown that runs whatever happens.
type rep struct {
	r     *runState
	pt    config.Point
	index int
	sys   systems.System
	dir   string // work directory of this repetition
	logs  string // agent logs and raw outputs of this repetition

	pools     []*pool.Pool
	instances []systems.Instance // by pool; nil where no container runs
	agents    []*agentProc
	// placements[i] is where agents[i] runs, and events[i] its last event.
	placements    []config.Placement
	events        []AgentEvent
	mains, noises []*agentProc // agents by role
	out           *Repetition
}

// agentGrace is how long an agent gets to return its result after "stop":
// longer than an external tool's own stop grace (randomio gives stress-ng
// 25 s to write its report after SIGINT).
const agentGrace = 40 * time.Second

func (r *runState) runRepetition(ctx context.Context, pt config.Point, sys systems.System, index int) (out *Repetition, err error) {
	rp := &rep{r: r, pt: pt, index: index, sys: sys,
		dir:  filepath.Join(r.workDir, fmt.Sprintf("point%d-rep%d", pt.Index, index)),
		logs: filepath.Join(r.logDir, fmt.Sprintf("point%d", pt.Index), fmt.Sprintf("rep%d", index)),
		out:  &Repetition{Point: pt.Index, Index: index, Start: time.Now()}}
	defer func() {
		// An OOM kill explains whatever else failed (a service gone:
		// "transport endpoint is not connected"), and voids a measurement.
		if oerr := rp.oomKills(); oerr != nil {
			err = errors.Join(oerr, err)
		}
		// Teardown runs on a context that survives Ctrl-C but is bounded.
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		terr := rp.teardown(tctx)
		rp.out.Wall = time.Since(rp.out.Start)
		switch {
		case terr == nil:
		case err == nil:
			// The measurement stands; what teardown could not do cleanly
			// (a lazy unmount) is recorded with it.
			rp.note("teardown: %v", terr)
		default:
			err = errors.Join(err, fmt.Errorf("runner: teardown: %w", terr))
		}
	}()
	// On error the repetition is returned too: its notes are kept with
	// the failure.
	err = rp.run(ctx)
	return rp.out, err
}

func (rp *rep) note(format string, args ...any) {
	rp.out.Notes = append(rp.out.Notes, fmt.Sprintf(format, args...))
}

// run sets the repetition up, measures it and records its results; what
// it set up is left for teardown, whatever happens.
func (rp *rep) run(ctx context.Context) error {
	for _, d := range []string{rp.dir, rp.logs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	over, err := rp.createPools(ctx)
	if err != nil {
		return err
	}
	layout := rp.r.exp.Layout(rp.pt)
	if err := rp.setupSystems(ctx, layout, over); err != nil {
		return err
	}
	if err := rp.startAgents(ctx, layout); err != nil {
		return err
	}
	if err := rp.barrier(ctx); err != nil {
		return err
	}
	rp.dropCachesIfAsked()
	if err := rp.measure(ctx); err != nil {
		return err
	}
	if err := rp.stopNoise(ctx); err != nil {
		return err
	}
	rp.collectResults()
	return nil
}

// teardown stops agents, tears the systems down and destroys the pools, in
// that order, collecting every error; nothing is skipped on failure.
func (rp *rep) teardown(ctx context.Context) error {
	rp.r.prog.setPhase("tearing down")
	var errs []error
	var wg sync.WaitGroup
	for _, a := range rp.agents {
		// A noise workload may take its tool's stop grace to stop and
		// clean up after itself (randomio's host directory).
		grace := 2 * time.Second
		if slices.Contains(rp.noises, a) {
			grace = agentGrace
		}
		wg.Add(1)
		go func() { defer wg.Done(); a.finish(grace) }()
	}
	wg.Wait()
	// Keep only logs and raw outputs that say something.
	for _, a := range rp.agents {
		if st, err := os.Stat(a.logPath); err == nil && st.Size() == 0 {
			os.Remove(a.logPath)
		}
		os.Remove(a.outDir) // fails (and stays) when not empty
	}
	os.Remove(rp.logs)
	os.Remove(filepath.Dir(rp.logs))
	for i := len(rp.instances) - 1; i >= 0; i-- {
		if in := rp.instances[i]; in != nil {
			if err := in.Teardown(ctx); err != nil {
				errs = append(errs, fmt.Errorf("pool %d: %w", i, err))
			}
		}
	}
	for _, p := range rp.pools {
		if err := p.Destroy(ctx); err != nil {
			errs = append(errs, fmt.Errorf("destroying pool %s: %w", p.Name(), err))
		}
	}
	if !rp.r.opts.Keep {
		if err := os.RemoveAll(rp.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// cephCluster is the experiment's [ceph] table on the ceph backend (the
// zero value on the local one), as the Ceph systems take it.
func cephCluster(exp *config.Experiment) systems.CephCluster {
	if exp.Backend != "ceph" {
		return systems.CephCluster{}
	}
	c := exp.Ceph
	return systems.CephCluster{Conf: c.Conf, Keyring: c.Keyring, User: c.User, FSName: c.FSName}
}

// pointTenants are the tenants of the pool's shared cache at point pt:
// [tenants] with the point's policy and aging, when the tenants are the
// containers of the pool and the system applies tenant cache policies
// (D); nil otherwise.
func pointTenants(exp *config.Experiment, pt config.Point) *systems.Tenants {
	if !exp.TenantContainers() || pt.System != config.TenantCacheSystem {
		return nil
	}
	policy, aging := exp.TenantPolicy(pt)
	return &systems.Tenants{Weights: slices.Clone(exp.Tenants.Weights), Policy: policy, Aging: aging,
		Cache: units.Size(exp.TenantCacheBytes()), Slots: max(exp.Tenants.Slots, 1)}
}

// seedOf derives a per-instance seed: repetitions differ, reruns repeat.
func seedOf(base int64, point, rep int, pl config.Placement) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%d/%d/%d/%d/%d", base, point, rep, pl.Workload, pl.Pool, pl.Container)
	return int64(h.Sum64() >> 1)
}
