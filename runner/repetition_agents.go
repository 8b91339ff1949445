package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"polytropon/runner/config"
)

// The agents of a repetition: one per placement, inside its pool.

// startAgents starts the agent of every placement.
func (rp *rep) startAgents(ctx context.Context, layout []config.Placement) error {
	rp.r.prog.setPhase("preparing workloads")
	for _, pl := range layout {
		a, err := rp.startAgentAt(ctx, pl)
		if err != nil {
			return err
		}
		rp.agents = append(rp.agents, a)
		rp.placements = append(rp.placements, pl)
		if rp.r.exp.Workloads[pl.Workload].Role == "noise" {
			rp.noises = append(rp.noises, a)
		} else {
			rp.mains = append(rp.mains, a)
		}
	}
	if len(rp.mains) == 0 {
		return fmt.Errorf("runner: point %s places no main workload", rp.pt.Name())
	}
	return nil
}

// startAgentAt starts the agent of the workload instance at pl, with its
// log and raw outputs under rp.logs.
func (rp *rep) startAgentAt(ctx context.Context, pl config.Placement) (*agentProc, error) {
	w := rp.r.exp.Workloads[pl.Workload]
	job, err := rp.jobAt(pl)
	if err != nil {
		return nil, err
	}
	base := fmt.Sprintf("%s-w%d-p%d-c%d", w.Name, pl.Workload, pl.Pool, pl.Container)
	job.OutDir = filepath.Join(rp.logs, base)
	if err := os.MkdirAll(job.OutDir, 0o755); err != nil {
		return nil, err
	}
	label := fmt.Sprintf("%s (%s) in pool %d container %d", w.Name, w.Role, pl.Pool, pl.Container)
	a, err := startAgent(ctx, rp.pools[pl.Pool], rp.r.agentBin, label, filepath.Join(rp.logs, base+".log"), job)
	if err != nil {
		os.Remove(job.OutDir)
		return nil, err
	}
	a.outDir = job.OutDir
	return a, nil
}

// jobAt is the job of the workload instance at pl, without its OutDir.
func (rp *rep) jobAt(pl config.Placement) (*Job, error) {
	exp := rp.r.exp
	w := exp.Workloads[pl.Workload]
	wl, err := w.DecodeAt(rp.pt)
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(wl)
	if err != nil {
		return nil, fmt.Errorf("runner: encoding params of %s: %w", w.Name, err)
	}
	job := &Job{
		Workload: w.Name, Params: params,
		Container: rp.instances[pl.Pool].Container(pl.Container),
		Cores:     rp.pools[pl.Pool].Cores(), Pool: pl.Pool, Instance: pl.Container,
		Seed:  seedOf(exp.Run.Seed, rp.pt.Index, rp.index, pl),
		Phase: w.Role, Warmup: exp.Run.Warmup.Duration,
	}
	if w.Role == "main" {
		job.Duration = exp.Run.Duration.Duration
	}
	return job, nil
}

// awaitEvents waits for the next event of each of agents and keeps it in
// rp.events.
func (rp *rep) awaitEvents(ctx context.Context, agents []*agentProc) error {
	return eachAgent(ctx, agents, func(ctx context.Context, a *agentProc) error {
		ev, err := a.next(ctx)
		rp.events[slices.Index(rp.agents, a)] = ev
		return err
	})
}

// eachAgent runs f for every agent concurrently; the first error cancels
// the others' waits and is returned.
func eachAgent(ctx context.Context, agents []*agentProc, f func(context.Context, *agentProc) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx, a); err != nil {
				mu.Lock()
				if first == nil {
					first = err
					cancel(err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}
