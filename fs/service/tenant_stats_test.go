package service

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"

	"polytropon/fs/stack"
)

// TestTenantStatsLogged: when the service stops, its log has a line per
// tenant of a shared cache pool with the tenant's weight, hits and
// misses, and a line per weighted instance with the requests it had
// served, so a harness run's serve.log shows what the weights divided.
func TestTenantStatsLogged(t *testing.T) {
	name := fmt.Sprintf("test-pool-%d", rand.Int64())
	var insts []InstanceConfig
	for i, w := range []int{100, 800} {
		co := &stack.CacheOptions{Pool: name, Tenant: fmt.Sprintf("t%d", i), Weight: new(w), PoolCapacity: 1 << 20, PoolPolicy: "weighted"}
		insts = append(insts, InstanceConfig{Path: fmt.Sprintf("/i%d", i), Weight: w,
			Stack: []stack.Layer{{Type: "cache", Cache: co}, {Type: "local", Dir: t.TempDir()}}})
	}
	var log bytes.Buffer
	s, err := New(Config{Key: 1 + int(rand.Int32N(1<<30)), Buffers: 8, BufferSize: 64 << 10, Instances: insts}, &log)
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	defer s.Stop()
	c := dial(t, s)
	v, err := c.FS("/i1")
	if err != nil {
		t.Fatal(err)
	}
	f, err := v.Open(context.Background(), "data", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	p := make([]byte, 4096)
	if _, err := f.Pwrite(p, 0); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := f.Pread(p, 0); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	c.Close()
	s.Stop()
	out := log.String()
	for _, want := range []string{
		fmt.Sprintf("cache pool %s: tenant t0 weight 100: 0 hits, 0 misses,", name),
		fmt.Sprintf("cache pool %s: tenant t1 weight 800: 3 hits,", name),
		"weighted dispatch: instance /i0 weight 100: 0 data requests served",
		"weighted dispatch: instance /i1 weight 800: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "instance /i1 weight 800: 0 data requests served") {
		t.Errorf("the weighted instance that was read from served no requests:\n%s", out)
	}
}
