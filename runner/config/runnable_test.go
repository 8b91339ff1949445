package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateRunTenantCache checks that `polytropon run` refuses the
// [tenants] cache settings it cannot apply (naming file:line and key) while
// Load accepts them for `polytropon cachebench`, and that weights alone
// pass.
func TestValidateRunTenantCache(t *testing.T) {
	two := strings.Replace(base, "count = [1, 2]", "count = 2", 1)
	for _, tc := range []struct {
		name string
		text string
		want []string // substrings of the error; nil: accepted
	}{
		{"weights only", two + "[tenants]\nweights = [100, 200]\n", nil},
		{"no tenants", two, nil},
		{"policy", two + "[tenants]\nweights = [100, 200]\npolicy = \"justitia\"\n",
			[]string{"x.toml:11:", "tenants.policy", `"justitia"`, "polytropon cachebench FILE", "does not apply them yet"}},
		{"explicit conventional", two + "[tenants]\nweights = [100, 200]\npolicy = \"conventional\"\n",
			[]string{"x.toml:11:", "tenants.policy"}},
		{"aging", two + "[tenants]\nweights = [100, 200]\naging = false\n", []string{"x.toml:11:", "tenants.aging"}},
		{"cache", two + "[tenants]\nweights = [100, 200]\ncache = \"64MiB\"\n", []string{"x.toml:11:", "tenants.cache", "64MiB"}},
		{"all three", two + "[tenants]\nweights = [100, 200]\ncache = \"64MiB\"\npolicy = \"direct\"\naging = true\n",
			[]string{"x.toml:11:", "x.toml:12:", "x.toml:13:", "tenants.cache", "tenants.policy", "tenants.aging"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.toml")
			if err := os.WriteFile(path, []byte(tc.text), 0o644); err != nil {
				t.Fatal(err)
			}
			e, err := Load(path)
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
			if err == nil {
				t.Fatalf("ValidateRun accepted:\n%s", tc.text)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			msg := strings.ReplaceAll(err.Error(), path, "x.toml")
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error lacks %q:\n%s", w, msg)
				}
			}
		})
	}
}

// TestValidateRunInCode covers experiments built in code (no file): the
// settings count as set when they differ from the defaults.
func TestValidateRunInCode(t *testing.T) {
	e := &Experiment{Tenants: &Tenants{Weights: []int{1, 2}, Policy: "conventional"}}
	if err := e.ValidateRun(); err != nil {
		t.Errorf("defaults refused: %v", err)
	}
	e.Tenants.Policy, e.Tenants.Aging = "justitia", true
	err := e.ValidateRun()
	if err == nil || !strings.Contains(err.Error(), "tenants.policy") || !strings.Contains(err.Error(), "tenants.aging") {
		t.Errorf("justitia+aging: got %v, want errors naming tenants.policy and tenants.aging", err)
	}
}

// TestCheckedInJustitiaRefusedByRun: the checked-in Justitia experiments
// load (cachebench runs them) but `polytropon run` refuses them.
func TestCheckedInJustitiaRefusedByRun(t *testing.T) {
	files, err := filepath.Glob("../../experiments/justitia-*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no justitia experiment files found: %v", err)
	}
	for _, f := range files {
		e, err := Load(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if err := e.ValidateRun(); err == nil || !strings.Contains(err.Error(), f+":") {
			t.Errorf("%s: ValidateRun = %v, want a refusal naming the file and line", f, err)
		}
	}
}
