package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const scaled = `name = "scaled"
systems = ["D"]
[run]
duration = "30s"
[pools]
count = [1, 2, 4]
[[workload]]
name = "fakeio"
[workload.params]
threads = 4
file_size = "1GiB"
[[sweep]]
param = "containers"
values = [1, 8]
[scale.smoke]
why = "seconds per point"
run = { repetitions = { min = 1, max = 1 }, duration = "2s", warmup = "0s" }
pools = { count = [1], memory = "256MiB" }
params.fakeio = { file_size = "1MiB" }
sweep.containers = [1, 2]
[scale.paper]
why = "the paper's"
pools = { count = [1, 2, 4, 8, 16, 32], cores_per_pool = 2 }
`

func writeExp(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "x.toml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestScales(t *testing.T) {
	path := writeExp(t, scaled)
	host, err := LoadScale(path, ScaleHost)
	if err != nil {
		t.Fatal(err)
	}
	if host.Run.Duration.Duration != 30*time.Second || len(host.Pools.Count) != 3 || host.Workloads[0].Params["file_size"] != "1GiB" {
		t.Errorf("host scale is not the body: %+v %+v %v", host.Run, host.Pools, host.Workloads[0].Params)
	}
	smoke, err := LoadScale(path, ScaleSmoke)
	if err != nil {
		t.Fatal(err)
	}
	if smoke.Run.Duration.Duration != 2*time.Second || smoke.Run.Repetitions != (Repetitions{1, 1}) || smoke.Run.Warmup.Duration != 0 {
		t.Errorf("smoke run: %+v", smoke.Run)
	}
	if len(smoke.Pools.Count) != 1 || smoke.Pools.Memory != 256<<20 || smoke.Pools.CoresPerPool != 2 {
		t.Errorf("smoke pools: %+v", smoke.Pools)
	}
	if p := smoke.Workloads[0].Params; p["file_size"] != "1MiB" || p["threads"] != int64(4) {
		t.Errorf("smoke params %v: want file_size overridden, threads kept", p)
	}
	if n := len(smoke.Points()); n != 2 {
		t.Errorf("smoke: %d points, want 2 (1 pool count x containers 1, 2)", n)
	}
	paper, err := LoadScale(path, ScalePaper)
	if err != nil {
		t.Fatal(err)
	}
	if len(paper.Pools.Count) != 6 || paper.Run.Duration.Duration != 30*time.Second {
		t.Errorf("paper: %+v %+v", paper.Pools, paper.Run)
	}
	text, err := smoke.Encode()
	if err != nil || !strings.Contains(string(text), `At scale "smoke"`) {
		t.Errorf("resolved config does not say its scale: %v\n%s", err, text)
	}
}

func TestBadScales(t *testing.T) {
	for _, tc := range []struct {
		name, text, scale string
		want              []string
	}{
		{"unknown scale asked", scaled, "huge", []string{`unknown scale "huge"`}},
		{"unknown scale table", scaled + "[scale.tiny]\nwhy = \"x\"\n", "smoke", []string{"x.toml:24:", "scale.tiny", `unknown scale "tiny"`}},
		{"host table", scaled + "[scale.host]\nwhy = \"x\"\n", "smoke", []string{"scale.host", "the file's body is the host scale"}},
		{"unknown key", strings.Replace(scaled, "why = \"the paper's\"", "why = \"p\"\nrepetitions = 3", 1), "paper", []string{"x.toml:23:", `unknown key "scale.paper.repetitions"`}},
		{"unknown run key", strings.Replace(scaled, `warmup = "0s"`, `warmpu = "0s"`, 1), "smoke", []string{"x.toml:17:", `"scale.smoke.run.warmpu"`}},
		{"wrong type", strings.Replace(scaled, `memory = "256MiB"`, `memory = true`, 1), "smoke", []string{"x.toml:18:", "scale.smoke.pools.memory"}},
		{"no why", strings.Replace(scaled, "why = \"the paper's\"\n", "", 1), "smoke", []string{"scale.paper.why", "missing"}},
		{"unknown workload", strings.Replace(scaled, "params.fakeio", "params.fakeoi", 1), "host", []string{"x.toml:19:", "scale.smoke.params.fakeoi", `no [[workload]] named "fakeoi"`}},
		{"unknown sweep", strings.Replace(scaled, "sweep.containers", "sweep.noise", 1), "smoke", []string{"scale.smoke.sweep.noise", `no [[sweep]] of "noise"`}},
		{"bad value at the scale", strings.Replace(scaled, "count = [1], ", "count = [40], ", 1), "smoke", []string{"pools.count[0]", "40 pools"}},
		{"bad param at the scale", strings.Replace(scaled, `file_size = "1MiB"`, `file_sise = "1MiB"`, 1), "smoke", []string{"file_sise"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeExp(t, tc.text)
			_, err := LoadScale(path, tc.scale)
			if err == nil {
				t.Fatalf("accepted at %s:\n%s", tc.scale, tc.text)
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
