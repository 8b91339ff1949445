package service

import (
	"context"
	"errors"
	"syscall"
	"testing"

	"polytropon/fs/stack"
)

// TestDispatchFlows: with an instance weight the service dispatches by
// weight; a data call counts for the flow of its file's instance, every
// other call (stat, open, close) for the control flow.
func TestDispatchFlows(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	s := newInProcess(t, Config{Instances: []InstanceConfig{
		{Path: "/a", Weight: 800, Stack: []stack.Layer{{Type: stack.Local, Dir: dirA}}},
		{Path: "/b", Stack: []stack.Layer{{Type: stack.Local, Dir: dirB}}},
	}})
	s.mu.RLock()
	ids := map[string]uint32{}
	for _, in := range s.instances {
		ids[in.path] = in.id
	}
	s.mu.RUnlock()
	c := dial(t, s)
	ctx := context.Background()
	delta := func(op func()) map[uint32]uint64 {
		before := s.driver.Grants()
		op()
		after := s.driver.Grants()
		for k := range after {
			after[k] -= before[k]
		}
		return after
	}
	a, _ := c.FS("/a")
	d := delta(func() {
		for range 10 {
			a.Stat(ctx, ".")
		}
	})
	if d[controlFlow] != 10 || d[ids["/a"]] != 0 || d[ids["/b"]] != 0 {
		t.Errorf("10 stats on /a: grants %v (ids %v), want 10 in the control flow %d", d, ids, controlFlow)
	}
	b, _ := c.FS("/b")
	f, err := b.Open(ctx, "f", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	d = delta(func() {
		for i := range 5 {
			f.Pwrite([]byte("x"), int64(i))
		}
		f.Pread(make([]byte, 5), 0)
		f.Stat()
	})
	f.Close()
	if d[ids["/b"]] != 6 || d[ids["/a"]] != 0 || d[controlFlow] != 1 {
		t.Errorf("5 pwrites, a pread and an fstat on a file of /b: grants %v (ids %v), want 6 for /b, the fstat in the control flow", d, ids)
	}
	// Without weights there is no weighted dispatch; a bad weight is refused.
	plain := newInProcess(t, Config{Instances: []InstanceConfig{{Path: "/", Stack: []stack.Layer{{Type: stack.Local, Dir: dirA}}}}})
	if g := plain.driver.Grants(); g != nil {
		t.Errorf("a service without weights dispatches by weight: %v", g)
	}
	cfg := Config{Instances: []InstanceConfig{{Path: "/", Weight: MaxWeight + 1, Stack: []stack.Layer{{Type: stack.Local, Dir: dirA}}}}}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("weight %d: %v, want ErrConfig", MaxWeight+1, err)
	}
}
