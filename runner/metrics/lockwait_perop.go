package metrics

// Kernel lock wait per request, the papers' unit (Fig 1/6a: K's lock wait
// per request rises 2.3x beside RND): a pool's lock_wait_seconds and
// lock_waits over the operations its main workloads completed in the same
// window. The collector does not see the workloads; the runner hands their
// operations per pool once they report.

// LockWaitPerOp derives, from the lockwait metrics of a window (ms) and the
// main workloads' operations per pool (ops, by pool name), per pool and
// pool: lock_wait_per_op_us (µs of kernel lock wait per operation) and
// lock_waits_per_op, without the backend label (one backend runs; the
// totals say which), so that experiment files can plot them by name on
// any host. Pools without operations get none.
func LockWaitPerOp(ms []Metric, ops map[string]int64) []Metric {
	var out []Metric
	for _, m := range ms {
		n := ops[m.Pool]
		if m.Pool == "" || n <= 0 {
			continue
		}
		switch m.Name {
		case "lock_wait_seconds":
			out = append(out, Metric{Pool: m.Pool, Name: "lock_wait_per_op_us", Unit: "us", Value: m.Value * 1e6 / float64(n)})
		case "lock_waits":
			out = append(out, Metric{Pool: m.Pool, Name: "lock_waits_per_op", Unit: "count", Value: m.Value / float64(n)})
		}
	}
	return out
}
