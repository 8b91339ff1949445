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
	"polytropon/internal/testenv"
)

// TestSharedCachePool: two instances of one service are tenants of one
// named shared pool (weights 100 and 800, weighted policy, one allocation
// slot) over O_DIRECT local branches; data written through each
// reaches its own directory, the pool lists both tenants, and it is gone
// once the service stops.
func TestSharedCachePool(t *testing.T) {
	name := fmt.Sprintf("test-pool-%d", rand.Int64())
	dirA, dirB := t.TempDir(), t.TempDir()
	tenant := func(tn string, weight int) *stack.CacheOptions {
		return &stack.CacheOptions{Pool: name, Tenant: tn, Weight: new(weight), PoolCapacity: 1 << 20,
			PoolPolicy: "weighted", PoolAging: new(true), PoolSlots: new(1), WriteThrough: true}
	}
	s := newInProcess(t, Config{Instances: []InstanceConfig{
		{Path: "/a", Stack: []stack.Layer{{Type: "cache", Cache: tenant("a", 100)}, {Type: "local", Dir: dirA, ODirect: true}}},
		{Path: "/b", Stack: []stack.Layer{{Type: "cache", Cache: tenant("b", 800)}, {Type: "local", Dir: dirB, ODirect: true}}},
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
		{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 2 << 20}}, {Type: "local", Dir: dirA, ODirect: true}}}}})
	np2 := s2.stacks.CachePool(name)
	if np2 == np || np2.Frames() != 32 {
		t.Errorf("after the old tenants closed: same pool %v, %d frames; want a fresh 32-frame pool", np2 == np, np2.Frames())
	}
}

func TestSharedCachePoolErrors(t *testing.T) {
	dir := t.TempDir()
	name := fmt.Sprintf("test-pool-%d", rand.Int64())
	for label, insts := range map[string][][]stack.Layer{
		"no capacity":    {{{Type: "cache", Cache: &stack.CacheOptions{Pool: name}}, {Type: "local", Dir: dir, ODirect: true}}},
		"tenant alone":   {{{Type: "cache", Cache: &stack.CacheOptions{Tenant: "a", Weight: new(5)}}, {Type: "local", Dir: dir}}},
		"bad weight":     {{{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 1 << 20, Weight: new(0)}}, {Type: "local", Dir: dir}}},
		"bad policy":     {{{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 1 << 20, PoolPolicy: "mru"}}, {Type: "local", Dir: dir}}},
		"private policy": {{{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 1 << 20, Policy: "lru"}}, {Type: "local", Dir: dir}}},
		"conflicting settings": {
			{{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 1 << 20}}, {Type: "local", Dir: dir}},
			{{Type: "cache", Cache: &stack.CacheOptions{Pool: name, PoolCapacity: 2 << 20}}, {Type: "local", Dir: dir}},
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
	// What only a configuration file can say wrong: a setting the cache
	// layer does not have, a value of the wrong type.
	for label, settings := range map[string]string{
		"unknown pool_":       `pool = "p", pool_capacity = "1M", pool_colour = "red"`,
		"pool_aging a string": `pool = "p", pool_capacity = "1M", pool_aging = "yes"`,
		"weight a string":     `pool = "p", pool_capacity = "1M", weight = "heavy"`,
	} {
		text := fmt.Sprintf("[[instance]]\npath = \"/\"\nstack = [{type = \"cache\", cache = {%s}}, {type = \"local\", dir = %q}]\n", settings, dir)
		if _, err := LoadConfig(testenv.WriteFile(t, "serve.toml", text)); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", label, err)
		}
	}
}
