package cephlayer

import (
	"errors"
	"testing"

	"polytropon/fs"
	"polytropon/fs/service"
)

func TestBuildRejectsBadLayers(t *testing.T) {
	conf := map[string]string{"conf": "/etc/ceph/ceph.conf"}
	for _, c := range []struct {
		name  string
		l     service.Layer
		below fs.Service
	}{
		{"no conf", service.Layer{Type: Type, Dir: "/t1"}, nil},
		{"unknown option", service.Layer{Type: Type, Dir: "/t1", Options: map[string]string{"conf": "x", "colour": "red"}}, nil},
		{"bad timeout", service.Layer{Type: Type, Dir: "/t1", Options: map[string]string{"conf": "x", "mount_timeout": "10"}}, nil},
		{"not at the bottom", service.Layer{Type: Type, Dir: "/t1", Options: conf}, fs.Unimplemented{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, err := Build(c.l, c.below)
			if !errors.Is(err, service.ErrConfig) {
				t.Fatalf("Build: got (%v, %v), want an error wrapping service.ErrConfig", s, err)
			}
		})
	}
}
