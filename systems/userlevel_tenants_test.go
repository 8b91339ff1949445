package systems

import (
	"strings"
	"testing"
)

// TestUserlevelTenantConfig: the tenant_* options give container i a tenant
// of one shared cache pool with weight i over an O_DIRECT branch, per
// policy, and bad combinations are refused with the option named.
func TestUserlevelTenantConfig(t *testing.T) {
	base := map[string]string{"tenant_weights": "100, 200,400", "tenant_cache": "33554432", "tenant_aging": "true"}
	with := func(kv ...string) map[string]string {
		o := map[string]string{}
		for k, v := range base {
			o[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			o[kv[i]] = kv[i+1]
		}
		return o
	}
	for policy, want := range map[string]string{"conventional": "clock2q", "justitia": "weighted"} {
		cfg, _, err := userlevelConfig("p0", "/lib/libpolytropon.so", Request{Containers: 3, WorkDir: t.TempDir(), Options: with("tenant_policy", policy)})
		if err != nil {
			t.Fatalf("%s: %v", policy, err)
		}
		for i, in := range cfg.Instances {
			st := in.Stack
			if len(st) != 2 || st[0].Type != "cache" || st[1].Type != "local" || !st[1].ODirect {
				t.Fatalf("%s: instance %d stack %+v, want cache over O_DIRECT local", policy, i, st)
			}
			o := st[0].Cache
			wantW := []int{100, 200, 400}[i]
			if o == nil || o.Pool != "tenants-p0" || o.Weight == nil || *o.Weight != wantW || o.PoolPolicy != want || o.PoolCapacity != 100663296 ||
				o.PoolAging == nil || !*o.PoolAging || o.PoolSlots == nil || *o.PoolSlots != 1 {
				t.Errorf("%s: instance %d cache settings %+v", policy, i, o)
			}
		}
	}
	cfg, _, err := userlevelConfig("p0", "/lib/libpolytropon.so", Request{Containers: 3, WorkDir: t.TempDir(), Options: with("tenant_policy", "direct")})
	if err != nil {
		t.Fatal(err)
	}
	if st := cfg.Instances[2].Stack; len(st) != 1 || st[0].Type != "local" || !st[0].ODirect {
		t.Errorf("direct: stack %+v, want one O_DIRECT local layer", st)
	}
	for name, tc := range map[string]struct {
		req  Request
		want string
	}{
		"weights count": {Request{Containers: 2, Options: with("tenant_policy", "justitia")}, "3 weights for 2 containers"},
		"bad weight":    {Request{Containers: 3, Options: with("tenant_policy", "justitia", "tenant_weights", "1,x,3")}, "tenant_weights"},
		"bad policy":    {Request{Containers: 3, Options: with("tenant_policy", "fair")}, "tenant_policy"},
		"no cache size": {Request{Containers: 3, Options: with("tenant_policy", "justitia", "tenant_cache", "")}, "tenant_cache"},
		"with cache":    {Request{Containers: 3, Options: with("tenant_policy", "justitia", "cache", "true")}, "leave out cache"},
		"with lower":    {Request{Containers: 3, Lower: "/", Options: with("tenant_policy", "justitia")}, "lower"},
	} {
		tc.req.WorkDir = t.TempDir()
		_, _, err := userlevelConfig("p0", "/lib/libpolytropon.so", tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}
