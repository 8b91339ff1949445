package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func loadText(t *testing.T, text string) (*Experiment, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	e, err := Load(path)
	return e, path, err
}

func wantErr(t *testing.T, err error, path string, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error with %q", want)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error does not wrap ErrInvalid: %v", err)
	}
	msg := strings.ReplaceAll(err.Error(), path, "x.toml")
	for _, w := range want {
		if !strings.Contains(msg, w) {
			t.Errorf("error lacks %q:\n%s", w, msg)
		}
	}
}

// oneNode is base with one pool: the tenants can be its containers.
var oneNode = strings.Replace(base, "count = [1, 2]", "count = [1]", 1)

// TestTenantContainers: with pools.count = [1] the [tenants] weights name
// the pool's containers (pools.containers defaults to their number), the
// policy and aging sweep into points, and TenantPolicy reads them back.
func TestTenantContainers(t *testing.T) {
	text := oneNode + `[tenants]
weights = [100, 200, 400]
cache = "16MiB"
[[sweep]]
param = "tenants.policy"
values = ["conventional", "justitia"]
[[sweep]]
param = "tenants.aging"
values = [false, true]
[[plot]]
kind = "proportionality"
file = "prop"
`
	e, _, err := loadText(t, text)
	if err != nil {
		t.Fatal(err)
	}
	if !e.TenantContainers() || e.Pools.Containers != 3 {
		t.Fatalf("TenantContainers %v, containers %d; want true, 3", e.TenantContainers(), e.Pools.Containers)
	}
	if err := e.ValidateRun(); err != nil {
		t.Errorf("ValidateRun: %v", err)
	}
	pts := e.Points()
	if len(pts) != 4 {
		t.Fatalf("%d points, want 4 (2 policies x 2 aging)", len(pts))
	}
	if got, want := pts[3].Name(), "system=D/pools=1/tenants.policy=justitia/tenants.aging=true"; got != want {
		t.Errorf("last point %q, want %q", got, want)
	}
	if pol, aging := e.TenantPolicy(pts[1]); pol != "conventional" || !aging {
		t.Errorf("point 1: policy %q aging %v, want conventional true", pol, aging)
	}
	if n := e.ContainersIn(pts[0], 0); n != 3 {
		t.Errorf("pool 0 has %d containers, want 3", n)
	}
	if got := e.TenantCacheBytes(); got != 16<<20 {
		t.Errorf("TenantCacheBytes %d, want 16 MiB", got)
	}
	e.Tenants.Cache = 0
	if got, want := e.TenantCacheBytes(), int64(e.Pools.Memory)/2/3; got != want {
		t.Errorf("default TenantCacheBytes %d, want half the pool memory over 3 tenants = %d", got, want)
	}
}

func TestTenantsBad(t *testing.T) {
	for _, tc := range []struct {
		name string
		text string
		want []string
	}{
		{"sweep bad policy", oneNode + "[tenants]\nweights = [1, 2]\n[[sweep]]\nparam = \"tenants.policy\"\nvalues = [\"justitia\", \"fair\"]\n",
			[]string{"x.toml:13:", "sweep[0].values[1]", `"fair"`}},
		{"sweep aging not bool", oneNode + "[tenants]\nweights = [1, 2]\n[[sweep]]\nparam = \"tenants.aging\"\nvalues = [\"yes\"]\n",
			[]string{"sweep[0].values[0]", "aging must be true or false"}},
		{"sweep without tenants", oneNode + "[[sweep]]\nparam = \"tenants.policy\"\nvalues = [\"justitia\"]\n",
			[]string{"x.toml:10:", "sweep[0].param", "without a [tenants] table"}},
		{"containers swept", oneNode + "[tenants]\nweights = [1, 2]\n[[sweep]]\nparam = \"containers\"\nvalues = [1, 2]\n",
			[]string{"sweep[0].param", "containers cannot be swept"}},
		{"noise beside tenants", oneNode + "[[workload]]\nname = \"fakecpu\"\nrole = \"noise\"\n[tenants]\nweights = [1, 2]\n",
			[]string{"workload[1].role", "noise workloads"}},
		{"instances beside tenants", strings.Replace(oneNode, "name = \"fakeio\"\n", "name = \"fakeio\"\ninstances = 5\n", 1) + "[tenants]\nweights = [1, 2]\n",
			[]string{"workload[0].instances", "leave instances out"}},
		{"weights for containers", strings.Replace(oneNode, "[pools]\n", "[pools]\ncontainers = 3\n", 1) + "[tenants]\nweights = [1, 2]\n",
			[]string{"tenants.weights", "2 weights for 1 pools", "pools.containers = 2"}},
		{"negative slots", oneNode + "[tenants]\nweights = [1, 2]\nslots = -1\n", []string{"x.toml:11:", "tenants.slots"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, path, err := loadText(t, tc.text)
			wantErr(t, err, path, tc.want)
		})
	}
}

// TestValidateRunTenantCache: `polytropon run` refuses [tenants] cache
// settings it cannot apply (tenants as pools: each has a private cache; a
// system other than D), naming file:line and key, while Load accepts them
// (for `polytropon cachebench`); weights alone pass.
func TestValidateRunTenantCache(t *testing.T) {
	two := strings.Replace(base, "count = [1, 2]", "count = 2", 1)
	for _, tc := range []struct {
		name string
		text string
		want []string // substrings of the error; nil: accepted
	}{
		{"pools: weights only", two + "[tenants]\nweights = [100, 200]\n", nil},
		{"no tenants", two, nil},
		{"containers: policy", oneNode + "[tenants]\nweights = [100, 200]\npolicy = \"justitia\"\naging = true\ncache = \"8MiB\"\n", nil},
		{"pools: policy", two + "[tenants]\nweights = [100, 200]\npolicy = \"justitia\"\n",
			[]string{"x.toml:11:", "tenants.policy", "containers of one pool", "polytropon cachebench FILE"}},
		{"pools: explicit conventional", two + "[tenants]\nweights = [100, 200]\npolicy = \"conventional\"\n",
			[]string{"x.toml:11:", "tenants.policy"}},
		{"pools: aging", two + "[tenants]\nweights = [100, 200]\naging = false\n", []string{"x.toml:11:", "tenants.aging"}},
		{"pools: cache and slots", two + "[tenants]\nweights = [100, 200]\ncache = \"64MiB\"\nslots = 2\n",
			[]string{"x.toml:11:", "tenants.cache", "x.toml:12:", "tenants.slots"}},
		{"pools: sweep", two + "[tenants]\nweights = [100, 200]\n[[sweep]]\nparam = \"tenants.policy\"\nvalues = [\"direct\"]\n",
			[]string{"x.toml:12:", "sweep[0].param", "tenants.policy"}},
		{"containers: other system", strings.Replace(oneNode, `systems = ["D"]`, `systems = ["D", "K/K"]`, 1) +
			"[tenants]\nweights = [100, 200]\n[[sweep]]\nparam = \"tenants.policy\"\nvalues = [\"direct\", \"justitia\"]\n",
			[]string{"x.toml:2:", "systems[1]", `"K/K" does not apply`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, path, err := loadText(t, tc.text)
			if err != nil {
				t.Fatalf("Load (cachebench's check) refused: %v", err)
			}
			err = e.ValidateRun()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ValidateRun refused: %v", err)
				}
				return
			}
			wantErr(t, err, path, tc.want)
		})
	}
}

// TestValidateRunInCode covers experiments built in code (no file): the
// settings count as set when they differ from the defaults.
func TestValidateRunInCode(t *testing.T) {
	e := &Experiment{Systems: []string{"D"}, Pools: Pools{Count: IntList{2}, Containers: 1},
		Tenants: &Tenants{Weights: []int{1, 2}, Policy: "conventional"}}
	if err := e.ValidateRun(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	e.Tenants.Policy, e.Tenants.Aging = "justitia", true
	err := e.ValidateRun()
	if err == nil || !strings.Contains(err.Error(), "tenants.policy") || !strings.Contains(err.Error(), "tenants.aging") {
		t.Errorf("justitia+aging with tenants as pools: got %v, want errors naming tenants.policy and tenants.aging", err)
	}
	e.Pools = Pools{Count: IntList{1}, Containers: 2}
	if err := e.ValidateRun(); err != nil {
		t.Errorf("justitia+aging with tenants as containers refused: %v", err)
	}
}

// TestCheckedInJustitiaRunnable: the checked-in Justitia experiments are
// runnable by the harness (tenants are the containers of one pool).
func TestCheckedInJustitiaRunnable(t *testing.T) {
	files, err := filepath.Glob("../../experiments/justitia-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no justitia experiment files found: %v", err)
	}
	for _, f := range files {
		e, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if !e.TenantContainers() {
			t.Errorf("%s: tenants are not the containers of one pool", f)
		}
		if err := e.ValidateRun(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
