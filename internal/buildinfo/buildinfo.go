// Package buildinfo says what this binary is: its version, commit, Go
// version and build tags, from what the Go toolchain stamps into it
// (`go build` records the VCS state and the flags), so `polytropon
// version` and a run's provenance report the same thing.
package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
)

// Set by the Makefile with -ldflags "-X polytropon/internal/buildinfo.NAME=V"
// from git: the toolchain stamps VCS information only into builds made
// in a git clone's main work tree (not in a `git worktree`, not with
// -buildvcs=false), and its module version is a pseudo-version. version
// replaces the module version; commit and dirty are used when the
// toolchain stamped none.
var version, commit, dirty string

// Info describes the running binary.
type Info struct {
	Version   string   `json:"version"`              // module version ("v0.0.0-2026...-abcdef+dirty", or "(devel)")
	Commit    string   `json:"commit,omitempty"`     // VCS revision
	Dirty     bool     `json:"dirty,omitempty"`      // built from a modified work tree
	GoVersion string   `json:"go_version"`           // "go1.26.0"
	Tags      []string `json:"build_tags,omitempty"` // -tags of the build ("ceph", "pacific")
}

// Read returns the binary's build information; fields the binary does not
// carry stay empty.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuild(bi, version, commit, dirty == "true")
}

// fromBuild is Info from the toolchain's stamp bi (nil: none) and the
// values the Makefile set.
func fromBuild(bi *debug.BuildInfo, version, commit string, dirty bool) Info {
	in := Info{Version: version, Commit: commit, Dirty: dirty, GoVersion: runtime.Version()}
	if bi == nil {
		return in
	}
	if in.Version == "" {
		in.Version = bi.Main.Version
	}
	stamped := map[string]string{}
	for _, s := range bi.Settings {
		stamped[s.Key] = s.Value
	}
	if tags := stamped["-tags"]; tags != "" {
		in.Tags = strings.FieldsFunc(tags, func(r rune) bool { return r == ',' || r == ' ' })
	}
	if rev, ok := stamped["vcs.revision"]; ok {
		in.Commit, in.Dirty = rev, stamped["vcs.modified"] == "true"
	}
	return in
}

// HasTag reports whether the binary was built with tag.
func (in Info) HasTag(tag string) bool {
	for _, t := range in.Tags {
		if t == tag {
			return true
		}
	}
	return false
}
