package systems

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"polytropon/fs/service"
	"polytropon/internal/units"
	"polytropon/runner/config"
	"polytropon/workloads"
)

// TestOneSizeRule: the same size string means the same bytes in every
// table that takes a size: an experiment's [pools] memory and [tenants]
// cache, a [[workload]] param, a system option ([options.K] size, D's
// cache capacity), the cache layer D writes into its service
// configuration, and a cache layer's capacity in a service configuration
// file. "1GB" is 10^9 bytes everywhere (it was 2^30 as a workload param).
func TestOneSizeRule(t *testing.T) {
	defer func(f func(string) any) { config.NewSystemOptions = f }(config.NewSystemOptions)
	config.NewSystemOptions = NewOptions
	for _, size := range []string{"1GB", "1G", "1gib", "1536MiB", "0.5GB", "100000000"} {
		want, err := units.ParseSize(size)
		if err != nil || size == "1GB" && want != 1e9 {
			t.Fatalf("%q is %d bytes (%v), want SI 10^9 for 1GB", size, want, err)
		}
		e, err := config.Parse("x.toml", []byte(fmt.Sprintf(`name = "sizes"
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
		dOpts := d.(*UserlevelOptions)
		cfg, _, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", dOpts, Request{Containers: 1, WorkDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		// The service reads the file D writes from the same structs.
		var buf strings.Builder
		if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
			t.Fatal(err)
		}
		written, err := service.LoadConfig(writeFile(t, buf.String()))
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		byHand, err := service.LoadConfig(writeFile(t, fmt.Sprintf(
			"[[instance]]\npath = \"/\"\nstack = [{type = \"cache\", cache = {capacity = %q}}, {type = \"local\", dir = \"/tmp\"}]\n", size)))
		if err != nil {
			t.Fatal(err)
		}
		tenants := (&Tenants{Weights: e.Tenants.Weights, Policy: "justitia", Cache: e.Tenants.Cache}).stack("p0", 0, "/tmp")
		for table, got := range map[string]units.Size{
			"[pools] memory":                     e.Pools.Memory,
			"[tenants] cache":                    e.Tenants.Cache,
			"[[workload]] params filesize":       w.(*workloads.Fileserver).FileSize,
			"[options.K] size":                   k.(*KernelOptions).Size,
			"[options.D] cache_capacity":         dOpts.CacheLayer.Capacity,
			"D's service config, cache capacity": written.Instances[0].Stack[0].Cache.Capacity,
			"a service config file, cache layer": byHand.Instances[0].Stack[0].Cache.Capacity,
			"D's tenant cache pool, per tenant":  tenants[0].Cache.PoolCapacity / 2,
		} {
			if got != want {
				t.Errorf("%q in %s: %d bytes, want %d", size, table, got, want)
			}
		}
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "serve.toml")
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}
