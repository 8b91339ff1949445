package metrics

import (
	"math"
	"testing"
)

func TestLockWaitPerOp(t *testing.T) {
	bt := map[string]string{"backend": "ftrace"}
	ms := []Metric{
		{Pool: "p0", Name: "lock_wait_seconds", Unit: "s", Value: 0.5, Labels: bt},
		{Pool: "p0", Name: "lock_waits", Unit: "count", Value: 2000, Labels: bt},
		{Pool: "p1", Name: "lock_wait_seconds", Unit: "s", Value: 1, Labels: bt}, // noise only: no main ops
		{Pool: "", Name: "lock_wait_seconds", Unit: "s", Value: 3, Labels: bt},   // host-wide
		{Pool: "p0", Name: "cpu_steal_seconds", Unit: "s", Value: 1},
	}
	got := LockWaitPerOp(ms, map[string]int64{"p0": 100000})
	if len(got) != 2 {
		t.Fatalf("got %v, want p0's two per-op metrics", got)
	}
	if v := one(t, got, "p0", "lock_wait_per_op_us"); math.Abs(v-5) > 1e-9 {
		t.Errorf("lock_wait_per_op_us = %v, want 5 (0.5 s over 100000 ops)", v)
	}
	if v := one(t, got, "p0", "lock_waits_per_op"); math.Abs(v-0.02) > 1e-12 {
		t.Errorf("lock_waits_per_op = %v, want 0.02", v)
	}
}
