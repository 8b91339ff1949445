package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestCephCommandArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "want one of up, down, status"},
		{[]string{"bogus"}, `unknown action "bogus"`},
		{[]string{"up", "extra"}, "want one of up, down, status"},
		{[]string{"-scripts", t.TempDir(), "status"}, "cannot find scripts/ceph-status.sh"},
	} {
		var out, errb bytes.Buffer
		err := runCeph(&out, &errb, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ceph %q: got %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// TestCephStatusWithoutCluster runs the real script on an empty directory:
// it must say there is no cluster and fail, flags given after the action.
func TestCephStatusWithoutCluster(t *testing.T) {
	var out, errb bytes.Buffer
	err := runCeph(&out, &errb, []string{"status", "-scripts", "../../scripts", "-dir", t.TempDir()})
	if err == nil || !strings.Contains(errb.String(), "no cluster in") {
		t.Fatalf("status of an empty dir: got %v, stderr %q", err, errb.String())
	}
}
