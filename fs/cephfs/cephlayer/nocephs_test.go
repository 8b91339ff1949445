//go:build !(ceph && cgo)

package cephlayer

import (
	"errors"
	"testing"

	"polytropon/fs/cephfs"
	"polytropon/fs/service"
)

func TestBuildWithoutCephTag(t *testing.T) {
	_, err := Build(service.Layer{Type: Type, Dir: "/t1", Options: map[string]string{"conf": "/etc/ceph/ceph.conf"}}, nil)
	if !errors.Is(err, cephfs.ErrUnavailable) {
		t.Fatalf("Build: got %v, want an error wrapping cephfs.ErrUnavailable", err)
	}
}
