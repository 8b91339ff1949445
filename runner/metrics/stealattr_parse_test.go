package metrics

import "testing"

// TestParseStealAttr reads bpftrace's maps as bpftrace 0.17 prints them,
// a comm with a comma included, and rejects a key it cannot read.
func TestParseStealAttr(t *testing.T) {
	m, err := parseStealAttr([]string{
		`{"type": "attached_probes", "data": {"probes": 1}}`,
		`{"type": "map", "data": {"@cur": {"0": [19724,"go"], "1": [0,"swapper/1"]}}}`,
		`{"type": "map", "data": {"@run": {"1,23,1,migration/1": 5969, "0,18253,4242,a,b": 9363}}}`,
		`{"type": "map", "data": {"@since": {"0": 17677096529110, "1": 17677096529999}}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.run[stealAttrRun{1, 23, "migration/1", 1}]; got != 5969 {
		t.Errorf("migration/1 on cpu 1: %d ns, want 5969", got)
	}
	if got := m.run[stealAttrRun{0, 18253, "a,b", 4242}]; got != 9363 {
		t.Errorf("a,b on cpu 0: %d ns, want 9363", got)
	}
	if got := m.cur[0]; got != (stealAttrRun{cpu: 0, tid: 19724, comm: "go"}) {
		t.Errorf("cpu 0 runs %+v, want go 19724", got)
	}
	if m.since[1] != 17677096529999 {
		t.Errorf("cpu 1 since %d", m.since[1])
	}
	if _, err := parseStealAttr([]string{`{"type": "map", "data": {"@run": {"x,1,1,yes": 1}}}`}); err == nil {
		t.Error("a key without a cpu was accepted")
	}
}
