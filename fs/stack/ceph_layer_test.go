package stack

import (
	"errors"
	"testing"

	"polytropon/fs"
)

func TestBuildRejectsBadLayers(t *testing.T) {
	conf := map[string]string{"conf": "/etc/ceph/ceph.conf"}
	for _, c := range []struct {
		name  string
		l     Layer
		below fs.Service
	}{
		{"no conf", Layer{Type: CephFS, Dir: "/t1"}, nil},
		{"unknown option", Layer{Type: CephFS, Dir: "/t1", Options: map[string]string{"conf": "x", "colour": "red"}}, nil},
		{"bad timeout", Layer{Type: CephFS, Dir: "/t1", Options: map[string]string{"conf": "x", "mount_timeout": "10"}}, nil},
		{"not at the bottom", Layer{Type: CephFS, Dir: "/t1", Options: conf}, fs.Unimplemented{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := buildCephFS(c.l, c.below)
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Build: got (%v, %v), want an error wrapping ErrConfig", s, err)
			}
		})
	}
}
