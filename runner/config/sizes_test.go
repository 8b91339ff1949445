package config

import (
	"fmt"
	"testing"

	"polytropon/internal/units"
	"polytropon/systems"
	"polytropon/workloads"
)

// TestOneSizeRule: the same size string means the same bytes in every
// table of an experiment that takes a size: [pools] memory, [tenants]
// cache, a [[workload]] param, and the real systems' options ([options.K]
// size, D's cache capacity). "1GB" is 10^9 bytes everywhere (it was 2^30
// as a workload param). (systems TestOneSizeRuleInServiceConfig follows
// D's bytes into its service configuration.)
func TestOneSizeRule(t *testing.T) {
	defer func(f func(string) any) { NewSystemOptions = f }(NewSystemOptions)
	NewSystemOptions = systems.NewOptions
	for _, size := range []string{"1GB", "1G", "1gib", "1536MiB", "0.5GB", "100000000"} {
		want, err := units.ParseSize(size)
		if err != nil || size == "1GB" && want != 1e9 {
			t.Fatalf("%q is %d bytes (%v), want SI 10^9 for 1GB", size, want, err)
		}
		e, err := Parse("x.toml", []byte(fmt.Sprintf(`name = "sizes"
systems = ["K", "D"]
[options.K]
size = %[1]q
[options.D]
cache_capacity = %[1]q
[pools]
count = [1]
memory = %[1]q
[[workload]]
name = "fileserver"
[workload.params]
filesize = %[1]q
[tenants]
weights = [100, 200]
cache = %[1]q
`, size)))
		if err != nil {
			t.Fatal(err)
		}
		e.EnsureDefaults()
		if err := e.Validate(); err != nil {
			t.Fatalf("%s: %v", size, err)
		}
		k, err := e.SystemOptions("K")
		if err != nil {
			t.Fatal(err)
		}
		d, err := e.SystemOptions("D")
		if err != nil {
			t.Fatal(err)
		}
		w, err := e.Workloads[0].DecodeAt(e.Points()[0])
		if err != nil {
			t.Fatal(err)
		}
		for table, got := range map[string]units.Size{
			"[pools] memory":               e.Pools.Memory,
			"[tenants] cache":              e.Tenants.Cache,
			"[[workload]] params filesize": w.(*workloads.Fileserver).FileSize,
			"[options.K] size":             k.(*systems.KernelOptions).Size,
			"[options.D] cache_capacity":   d.(*systems.UserlevelOptions).CacheLayer.Capacity,
		} {
			if got != want {
				t.Errorf("%q in %s: %d bytes, want %d", size, table, got, want)
			}
		}
	}
}
