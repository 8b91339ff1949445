package runner

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/runner/config"
)

// TestRunRefusesTenantCachePolicy: `polytropon run` refuses the checked-in
// Justitia experiment (its [tenants] policy/aging/cache would be ignored:
// the harness gives each pool a private cache) before it provisions
// anything, and says to use `polytropon cachebench`.
func TestRunRefusesTenantCachePolicy(t *testing.T) {
	const file = "../experiments/justitia-reread.toml"
	exp, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	_, err = Run(context.Background(), exp, Options{OutDir: out})
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Run: got %v, want an error wrapping config.ErrInvalid", err)
	}
	for _, want := range []string{file + ":", "tenants.policy", "tenants.aging", "polytropon cachebench FILE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Run error lacks %q:\n%v", want, err)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused run created its output directory %s (stat: %v)", out, err)
	}

	if polytroponBin == "" {
		return // the CLI binary is built only as root (TestMain)
	}
	cmd := exec.Command(polytroponBin, "run", "-out", out, file)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "does not apply them yet") {
		t.Errorf("polytropon run %s: err %v, output %q; want a refusal", file, err, msg)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("refused CLI run created its output directory %s (stat: %v)", out, err)
	}
}
