package stack

import (
	"errors"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/internal/units"
)

func TestBuildRejectsBadLayers(t *testing.T) {
	conf := &CephFSOptions{Conf: "/etc/ceph/ceph.conf"}
	for _, c := range []struct {
		name  string
		l     Layer
		below fs.Service
	}{
		{"no conf", Layer{Type: CephFS, Dir: "/t1"}, nil},
		{"no conf in the settings", Layer{Type: CephFS, Dir: "/t1", CephFS: &CephFSOptions{ID: "t1"}}, nil},
		{"unknown option", Layer{Type: CephFS, Dir: "/t1", CephFS: &CephFSOptions{Conf: "x", Options: CephConfig{"colour": "red"}}}, nil},
		{"bad timeout", Layer{Type: CephFS, Dir: "/t1", CephFS: &CephFSOptions{Conf: "x", MountTimeout: units.Duration(-10 * time.Second)}}, nil},
		{"not at the bottom", Layer{Type: CephFS, Dir: "/t1", CephFS: conf}, fs.Unimplemented{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := buildCephFS(c.l, c.below)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Build: got (%v, %v), want an error wrapping ErrConfig", s, err)
			}
		})
	}
}
