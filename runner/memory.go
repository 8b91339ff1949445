package runner

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"polytropon/fs/cache"
	"polytropon/fs/service"
	"polytropon/internal/units"
	"polytropon/runner/config"
	"polytropon/runner/pool"
	"polytropon/systems"
	"polytropon/workloads"
)

// A pool's memory limit (pools.memory) holds everything its processes keep
// resident: for D the filesystem service, its shared-memory buffers and
// its user-level caches, which, unlike the kernel's page cache of K, the
// kernel cannot reclaim; and the workload agents with their buffers. When
// they do not fit, the OOM killer kills one of them mid-run and the others
// see only a broken connection. So the runner checks the sizes before the
// run (checkPoolMemory) and names an OOM kill as such (oomKills).

// ErrPoolMemory means that what runs in a pool does not fit its memory
// limit: before the run (the estimate) or during it (an OOM kill).
var ErrPoolMemory = errors.New("runner: pool memory")

// Estimates of what a process keeps resident beside its data: a Go
// agent (runtime, goroutine stacks), D's service (runtime, FUSE server,
// open files, queues).
const (
	agentBaseBytes   = 24 << 20
	serviceBaseBytes = 48 << 20
)

// memoryItem is one part of a pool's memory estimate.
type memoryItem struct {
	what  string
	bytes int64
}

// checkPoolMemory fails, naming the point, the pool and the parts, when
// at some point what the system and the workloads of a pool keep resident
// exceeds pools.memory.
func checkPoolMemory(exp *config.Experiment) error {
	limit := exp.Pools.Memory.Bytes()
	if limit <= 0 {
		return nil
	}
	var msgs []string
	count := map[string]int{} // pools with the same estimate, by message
	first := map[string]string{}
	for _, pt := range exp.Points() {
		for i := range pt.Pools {
			items, err := poolMemory(exp, pt, i)
			if err != nil {
				return err
			}
			var sum int64
			parts := make([]string, len(items))
			for j, it := range items {
				sum += it.bytes
				parts[j] = it.what + " " + mib(it.bytes)
			}
			if sum <= limit {
				continue
			}
			msg := fmt.Sprintf("needs about %s, more than pools.memory = %v (%s)", mib(sum), exp.Pools.Memory, strings.Join(parts, " + "))
			if count[msg] == 0 {
				msgs = append(msgs, msg)
				first[msg] = fmt.Sprintf("%s: pool %d", pt.Name(), i)
			}
			count[msg]++
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		where := first[m]
		if n := count[m] - 1; n > 0 {
			where += fmt.Sprintf(" (and %d more pools like it)", n)
		}
		errs[i] = fmt.Errorf("%s %s", where, m)
	}
	return fmt.Errorf("%w: %w\nraise pools.memory or shrink what runs there", ErrPoolMemory, errors.Join(errs...))
}

func mib(b int64) string { return fmt.Sprintf("%.0fMiB", float64(b)/(1<<20)) }

// poolMemory estimates what pool i keeps resident at point pt.
func poolMemory(exp *config.Experiment, pt config.Point, i int) ([]memoryItem, error) {
	var items []memoryItem
	data := make([]int64, exp.ContainersIn(pt, i)) // file data per container a cache may hold
	for _, pl := range exp.Layout(pt) {
		if pl.Pool != i {
			continue
		}
		w := exp.Workloads[pl.Workload]
		wl, err := w.DecodeAt(pt)
		if err != nil {
			return nil, err
		}
		bytes := int64(agentBaseBytes)
		// A workload that does not say how much data it touches counts
		// none: assuming a full cache per container would fail runs that
		// never fill them (64 lighttpd clones); an OOM kill is still
		// reported as such.
		if m, ok := wl.(workloads.MemoryNeeder); ok {
			bytes += m.MemoryNeed()
			data[pl.Container] += m.DataBytes()
		}
		items = append(items, memoryItem{fmt.Sprintf("%s in container %d", w.Name, pl.Container), bytes})
	}
	if len(data) > 0 && pt.System == "D" {
		opts, err := exp.SystemOptions(pt.System)
		if err != nil {
			return nil, err
		}
		if o, ok := opts.(*systems.UserlevelOptions); ok {
			items = append(userlevelMemory(o, data, pointTenants(exp, pt)), items...)
		}
	}
	return items, nil
}

// userlevelMemory is D's part of a pool: the service, its shared-memory
// request buffers, and a client cache per container, which holds at most
// the container's file data (data[c]), or the tenants' shared cache.
func userlevelMemory(o *systems.UserlevelOptions, data []int64, tenants *systems.Tenants) []memoryItem {
	cfg := service.Config{Buffers: o.Buffers, BufferSize: o.BufferSize}
	cfg.EnsureDefaults()
	items := []memoryItem{
		{"D's service", serviceBaseBytes},
		{fmt.Sprintf("its buffers (%d x %v)", cfg.Buffers, cfg.BufferSize), int64(cfg.Buffers) * cfg.BufferSize.Bytes()},
	}
	switch {
	case tenants != nil && tenants.Cache > 0:
		items = append(items, memoryItem{"the tenants' shared cache", tenants.Cache.Bytes()})
	case o.Cache != nil && !*o.Cache, o.Cache == nil && tenants != nil:
	default:
		capacity := o.CacheLayer.Capacity.Bytes()
		if capacity == 0 {
			capacity = cache.DefaultCapacity
		}
		var held int64
		for _, d := range data {
			held += min(d, capacity)
		}
		items = append(items, memoryItem{fmt.Sprintf("%d client caches of up to %v (cache_capacity)", len(data), units.Size(capacity)), held})
	}
	return items
}

// oomKills reports the OOM killer's kills in the repetition's pools as an
// error naming each pool and its victims; nil when there were none.
func (rp *rep) oomKills() error {
	var errs []error
	for i, p := range rp.pools {
		r, err := p.OOMKills()
		if err != nil || r.Kills == 0 {
			continue
		}
		// Name what the runner knows of each victim.
		for j, v := range r.Victims {
			for _, a := range rp.agents {
				if a.proc != nil && a.proc.HostPid() == v.PID {
					r.Victims[j].What = "the agent of " + a.label
				}
			}
			if i < len(rp.instances) {
				if sp, ok := rp.instances[i].(ServicePIDer); ok && slices.Contains(sp.ServicePIDs(), v.PID) {
					r.Victims[j].What = "the pool's filesystem service"
				}
			}
		}
		errs = append(errs, oomError(p, rp.r.exp.Pools.Memory, r))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrPoolMemory, errors.Join(errs...))
	}
	return nil
}

func oomError(p *pool.Pool, limit units.Size, r pool.OOMReport) error {
	return fmt.Errorf("pool %s (pools.memory = %v): the kernel's OOM killer killed %s; raise pools.memory or shrink what runs there",
		p.Name(), limit, r)
}
