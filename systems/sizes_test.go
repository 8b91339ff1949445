package systems

import (
	"fmt"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"polytropon/fs/service"
	"polytropon/internal/testenv"
	"polytropon/internal/units"
)

// oneRuleSizes are the size strings the one-size-rule tests try: "1GB" is
// 10^9 bytes everywhere (it was 2^30 as a workload param), "1G" 2^30.
var oneRuleSizes = []string{"1GB", "1G", "1gib", "1536MiB", "0.5GB", "100000000"}

// TestOneSizeRuleInServiceConfig: a size in D's options means the same
// bytes in the cache layer D writes into its service configuration, in a
// cache layer of a service configuration file, and in D's tenant cache
// pool. (runner/config TestOneSizeRule checks the experiment's tables,
// D's options among them.)
func TestOneSizeRuleInServiceConfig(t *testing.T) {
	for _, size := range oneRuleSizes {
		want, err := units.ParseSize(size)
		if err != nil || size == "1GB" && want != 1e9 {
			t.Fatalf("%q is %d bytes (%v), want SI 10^9 for 1GB", size, want, err)
		}
		dOpts := NewOptions("D").(*UserlevelOptions)
		dOpts.CacheLayer.Capacity = want // as [options.D] cache_capacity decodes it (runner/config TestOneSizeRule)
		cfg, _, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", dOpts, Request{Containers: 1, WorkDir: t.TempDir()}, "")
		if err != nil {
			t.Fatal(err)
		}
		// The service reads the file D writes from the same structs.
		var buf strings.Builder
		if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
			t.Fatal(err)
		}
		written, err := service.LoadConfig(testenv.WriteFile(t, "serve.toml", buf.String()))
		if err != nil {
			t.Fatalf("%v\n%s", err, buf.String())
		}
		byHand, err := service.LoadConfig(testenv.WriteFile(t, "serve.toml", fmt.Sprintf(
			"[[instance]]\npath = \"/\"\nstack = [{type = \"cache\", cache = {capacity = %q}}, {type = \"local\", dir = \"/tmp\"}]\n", size)))
		if err != nil {
			t.Fatal(err)
		}
		tenants := (&Tenants{Weights: []int{100, 200}, Policy: "justitia", Cache: want}).stack("p0", 0, "/tmp")
		for table, got := range map[string]units.Size{
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
