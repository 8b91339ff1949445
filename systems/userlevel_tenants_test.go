package systems

import (
	"strings"
	"testing"
)

// TestUserlevelTenantConfig: the tenants (Request.Tenants) give container
// i a tenant of one shared cache pool with weight i over an O_DIRECT
// branch, per policy, and bad combinations are refused with the setting
// named.
func TestUserlevelTenantConfig(t *testing.T) {
	with := func(policy string, set ...func(*Tenants)) *Tenants {
		ten := &Tenants{Weights: []int{100, 200, 400}, Policy: policy, Cache: 33554432, Aging: true}
		for _, f := range set {
			f(ten)
		}
		return ten
	}
	d := defaultUserlevelOptions()
	for policy, want := range map[string]string{"conventional": "clock2q", "justitia": "weighted"} {
		cfg, _, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", d, Request{Containers: 3, WorkDir: t.TempDir(), Tenants: with(policy)}, "")
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
			// Justitia weighs the service's dispatch too; the
			// conventional cache leaves it in queue order.
			if w := map[string]int{"justitia": wantW}[policy]; in.Weight != w {
				t.Errorf("%s: instance %d dispatch weight %d, want %d", policy, i, in.Weight, w)
			}
		}
		if aging := cfg.WeightAging; policy == "justitia" && (aging == nil || !*aging) || policy == "conventional" && aging != nil {
			t.Errorf("%s: weight_aging %v", policy, aging)
		}
	}
	cfg, _, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", d, Request{Containers: 3, WorkDir: t.TempDir(), Tenants: with("direct")}, "")
	if err != nil {
		t.Fatal(err)
	}
	if st := cfg.Instances[2].Stack; len(st) != 1 || st[0].Type != "local" || !st[0].ODirect || cfg.Instances[2].Weight != 400 {
		t.Errorf("direct: instance %+v, want one O_DIRECT local layer and weight 400", cfg.Instances[2])
	}
	withCache := defaultUserlevelOptions()
	withCache.Cache = new(true)
	for name, tc := range map[string]struct {
		opts *UserlevelOptions
		req  Request
		want string
	}{
		"weights count": {d, Request{Containers: 2, Tenants: with("justitia")}, "3 weights for 2 containers"},
		"bad weight":    {d, Request{Containers: 3, Tenants: with("justitia", func(t *Tenants) { t.Weights = []int{1, 0, 3} })}, "tenants: weight 0 of tenant 1"},
		"bad policy":    {d, Request{Containers: 3, Tenants: with("fair")}, "tenants: policy"},
		"no cache size": {d, Request{Containers: 3, Tenants: with("justitia", func(t *Tenants) { t.Cache = 0 })}, "tenants: cache"},
		"bad slots":     {d, Request{Containers: 3, Tenants: with("justitia", func(t *Tenants) { t.Slots = -1 })}, "tenants: slots"},
		"with cache":    {withCache, Request{Containers: 3, Tenants: with("justitia")}, "leave out options cache"},
		"with lower":    {d, Request{Containers: 3, Lower: "/", Tenants: with("justitia")}, "lower"},
	} {
		tc.req.WorkDir = t.TempDir()
		_, _, err := userlevelConfig("D", "p0", "/lib/libpolytropon.so", tc.opts, tc.req, "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", name, err, tc.want)
		}
	}
}
