package runner

import (
	"context"
	"fmt"
	"os"

	"polytropon/runner/metrics"

	"golang.org/x/sys/unix"
)

// The measured window of a repetition, from the agents' barrier to their
// results.

// barrier waits until every agent has prepared: nobody starts measuring
// before.
func (rp *rep) barrier(ctx context.Context) error {
	if err := eachAgent(ctx, rp.agents, func(ctx context.Context, a *agentProc) error {
		ev, err := a.next(ctx)
		if err == nil && ev.Type != "ready" {
			err = fmt.Errorf("%w: %s: got %q before ready", ErrAgent, a.label, ev.Type)
		}
		return err
	}); err != nil {
		return fmt.Errorf("preparing the workloads: %w", err)
	}
	return nil
}

// dropCachesIfAsked drops the host's page cache before the measured window
// when the experiment says so; failing to is noted.
func (rp *rep) dropCachesIfAsked() {
	if !rp.r.exp.Run.DropCaches {
		return
	}
	if err := dropCaches(); err != nil {
		rp.note("drop_caches: %v", err)
	}
}

// dropCaches writes dirty data back, then drops the page cache, dentries
// and inodes.
func dropCaches() error {
	unix.Sync()
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("3\n"), 0); err != nil {
		return err
	}
	return nil
}

// measure lets the noise agents, then the main ones, go and waits for the
// main ones' results. The collectors watch exactly that window.
func (rp *rep) measure(ctx context.Context) error {
	rp.r.prog.setPhase("measuring")
	cols := rp.startCollectors(ctx)
	for _, a := range rp.noises {
		a.send(cmdGo)
	}
	for _, a := range rp.mains {
		a.send(cmdGo)
	}
	rp.events = make([]AgentEvent, len(rp.agents))
	mainErr := rp.awaitEvents(ctx, rp.mains)
	rp.out.Metrics = rp.stopCollectors(ctx, cols)
	if mainErr != nil {
		return fmt.Errorf("measured phase: %w", mainErr)
	}
	return nil
}

// stopNoise ends the noise workloads, now that the main ones are done,
// and waits up to agentGrace for their results.
func (rp *rep) stopNoise(ctx context.Context) error {
	if len(rp.noises) > 0 {
		rp.r.prog.setPhase("stopping noise")
	}
	for _, a := range rp.noises {
		a.stop()
	}
	gctx, cancel := context.WithTimeout(ctx, agentGrace)
	defer cancel()
	if err := rp.awaitEvents(gctx, rp.noises); err != nil {
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		return fmt.Errorf("stopping the noise workloads: %w", err)
	}
	return nil
}

// collectResults reaps every agent and records the outcome of its
// workload instance, and the collector metrics per operation of the main
// workloads (kernel lock wait per request).
func (rp *rep) collectResults() {
	defer func() {
		ops := map[string]int64{}
		for _, in := range rp.out.Instances {
			if in.Role == "main" && in.Result != nil && in.Pool < len(rp.pools) {
				ops[rp.pools[in.Pool].Name()] += in.Result.Ops
			}
		}
		rp.out.Metrics = append(rp.out.Metrics, metrics.LockWaitPerOp(rp.out.Metrics, ops)...)
	}()
	for i, a := range rp.agents {
		a.finish(agentGrace)
		pl := rp.placements[i]
		w := rp.r.exp.Workloads[pl.Workload]
		if rp.events[i].Stopped {
			rp.note("%s: stopped without a result (the workload reports nothing when stopped early)", a.label)
		}
		rp.out.Instances = append(rp.out.Instances, Instance{
			Workload: w.Name, Role: w.Role, Pool: pl.Pool, Container: pl.Container,
			Result: rp.events[i].Result, NothingToDo: rp.events[i].NothingToDo,
		})
	}
}
