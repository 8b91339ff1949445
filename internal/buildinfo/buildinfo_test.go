package buildinfo

import (
	"reflect"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestFromBuild: the tags come from the toolchain's -tags; its VCS stamp
// wins over the Makefile's commit, which fills in when there is none; the
// Makefile's version wins over the module's pseudo-version.
func TestFromBuild(t *testing.T) {
	bi := &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261207-abc"}, Settings: []debug.BuildSetting{
		{Key: "-tags", Value: "ceph,pacific"}, {Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"},
	}}
	got := fromBuild(bi, "", "fromldflags", false)
	want := Info{Version: "v0.0.0-20261207-abc", Commit: "abc", Dirty: true, GoVersion: runtime.Version(), Tags: []string{"ceph", "pacific"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stamped build: got %+v, want %+v", got, want)
	}
	if !got.HasTag("pacific") || got.HasTag("ceph pacific") {
		t.Errorf("HasTag: %v", got.Tags)
	}
	// A git worktree: no VCS stamp, no tags; the Makefile's values stand.
	got = fromBuild(&debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "deb3f53-dirty", "deb3f53b", true)
	want = Info{Version: "deb3f53-dirty", Commit: "deb3f53b", Dirty: true, GoVersion: runtime.Version()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("unstamped build: got %+v, want %+v", got, want)
	}
	if got := fromBuild(nil, "", "", false); got.GoVersion != runtime.Version() || got.Version != "" {
		t.Errorf("no build info: %+v", got)
	}
}
