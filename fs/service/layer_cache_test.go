package service

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"polytropon/fs/stack"
)

// TestSharedCachePool: two instances of one service are tenants of one
// named shared pool (weights 100 and 800, weighted policy, one allocation
// slot) over O_DIRECT local branches; data written through each
// reaches its own directory, the pool lists both tenants, and it is gone
// once the service stops.
func TestSharedCachePool(t *testing.T) {
	name := fmt.Sprintf("test-pool-%d", rand.Int64())
	dirA, dirB := t.TempDir(), t.TempDir()
	tenant := func(tn, weight string) map[string]string {
		return map[string]string{"pool": name, "tenant": tn, "weight": weight, "pool_capacity": "1MiB",
			"pool_policy": "weighted", "pool_aging": "true", "pool_slots": "1", "write_through": "true"}
	}
	s := newInProcess(t, Config{Instances: []InstanceConfig{
		{Path: "/a", Stack: []stack.Layer{{Type: "cache", Options: tenant("a", "100")}, {Type: "local", Dir: dirA, ODirect: true}}},
		{Path: "/b", Stack: []stack.Layer{{Type: "cache", Options: tenant("b", "800")}, {Type: "local", Dir: dirB, ODirect: true}}},
	}})
	c := dial(t, s)
	payload := bytes.Repeat([]byte("0123456789abcdef"), 8192) // 128 KiB: two pages
	for _, inst := range []struct{ path, dir string }{{"/a", dirA}, {"/b", dirB}} {
		v, err := c.FS(inst.path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := v.Open(context.Background(), "data", syscall.O_CREAT|syscall.O_RDWR, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Pwrite(payload, 0); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(payload))
		if n, err := f.Pread(got, 0); err != nil || n != len(payload) || !bytes.Equal(got, payload) {
			t.Errorf("%s: read back %d bytes, %v; equal %v", inst.path, n, err, bytes.Equal(got, payload))
		}
		f.Close()
		if disk, _ := os.ReadFile(filepath.Join(inst.dir, "data")); !bytes.Equal(disk, payload) {
			t.Errorf("%s: backend holds %d bytes, want the %d written", inst.path, len(disk), len(payload))
		}
	}
	np := s.stacks.CachePool(name)
	if np == nil {
		t.Fatalf("no shared pool %q registered", name)
	}
	stats := np.Stats()
	var got []string
	owned := 0
	for _, st := range stats {
		got = append(got, fmt.Sprintf("%s:%d", st.Name, st.Weight))
		owned += st.Pages
	}
	slices.Sort(got)
	if want := []string{"a:100", "b:800"}; !slices.Equal(got, want) {
		t.Errorf("pool tenants %v, want %v", got, want)
	}
	if owned == 0 {
		t.Errorf("the tenants own no pages of the shared pool after reading through it")
	}
	if np.Frames() != 16 {
		t.Errorf("pool of %d frames, want 1 MiB / 64 KiB = 16", np.Frames())
	}
	s.Stop()
	if n := len(np.Stats()); n != 0 {
		t.Errorf("%d tenants still open after Stop", n)
	}
	// A later tenant of the name gets a fresh pool, with its own settings.
	s2 := newInProcess(t, Config{Instances: []InstanceConfig{{Path: "/a", Stack: []stack.Layer{
		{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "2MiB"}}, {Type: "local", Dir: dirA, ODirect: true}}}}})
	np2 := s2.stacks.CachePool(name)
	if np2 == np || np2.Frames() != 32 {
		t.Errorf("after the old tenants closed: same pool %v, %d frames; want a fresh 32-frame pool", np2 == np, np2.Frames())
	}
}

func TestSharedCachePoolErrors(t *testing.T) {
	dir := t.TempDir()
	name := fmt.Sprintf("test-pool-%d", rand.Int64())
	for label, insts := range map[string][][]stack.Layer{
		"no capacity":    {{{Type: "cache", Options: map[string]string{"pool": name}}, {Type: "local", Dir: dir, ODirect: true}}},
		"tenant alone":   {{{Type: "cache", Options: map[string]string{"tenant": "a", "weight": "5"}}, {Type: "local", Dir: dir}}},
		"bad weight":     {{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "1M", "weight": "0"}}, {Type: "local", Dir: dir}}},
		"bad policy":     {{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "1M", "pool_policy": "mru"}}, {Type: "local", Dir: dir}}},
		"unknown pool_":  {{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "1M", "pool_colour": "red"}}, {Type: "local", Dir: dir}}},
		"private policy": {{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "1M", "policy": "lru"}}, {Type: "local", Dir: dir}}},
		"conflicting settings": {
			{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "1M"}}, {Type: "local", Dir: dir}},
			{{Type: "cache", Options: map[string]string{"pool": name, "pool_capacity": "2M"}}, {Type: "local", Dir: dir}},
		},
		"odirect on a cache":     {{{Type: "cache", ODirect: true}, {Type: "local", Dir: dir}}},
		"odirect relative local": {{{Type: "local", Dir: "rel", ODirect: true}}},
	} {
		cfg := Config{Key: 1 + int(rand.Int32N(1<<30)), Buffers: 4, BufferSize: 65536}
		for i, st := range insts {
			cfg.Instances = append(cfg.Instances, InstanceConfig{Path: fmt.Sprintf("/i%d", i), Stack: st})
		}
		s, err := New(cfg, &bytes.Buffer{})
		if err == nil {
			s.Stop()
		}
		if !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", label, err)
		}
	}
}
