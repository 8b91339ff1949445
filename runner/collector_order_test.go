package runner

import (
	"reflect"
	"testing"

	"polytropon/runner/metrics"
)

// TestCollectorStartOrder: the collectors that start a bpftrace helper
// start first (and so stop last), and stealattr starts right before steal
// (and stops right after it), whatever order the experiment lists them in:
// the attribution's window is the steal collector's.
func TestCollectorStartOrder(t *testing.T) {
	for _, names := range [][]string{
		{"cpu", "steal", "memory", "lockwait", "stealattr"},
		{"stealattr", "cpu", "lockwait", "steal"},
		{"steal", "stealattr"},
	} {
		var cols []runningCollector
		for _, n := range names {
			c, err := metrics.New(n)
			if err != nil {
				t.Fatal(err)
			}
			cols = append(cols, runningCollector{n, c})
		}
		var got []string
		for _, rc := range startOrder(cols) {
			got = append(got, rc.name)
		}
		var want []string
		switch len(names) {
		case 5:
			want = []string{"lockwait", "stealattr", "steal", "cpu", "memory"}
		case 4:
			want = []string{"lockwait", "stealattr", "steal", "cpu"}
		default:
			want = []string{"stealattr", "steal"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%v starts as %v, want %v", names, got, want)
		}
	}
}
