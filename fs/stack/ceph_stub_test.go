//go:build !(ceph && cgo)

package stack

import (
	"errors"
	"testing"

	"polytropon/fs/cephfs"
)

func TestBuildWithoutCephTag(t *testing.T) {
	_, err := buildCephFS(Layer{Type: CephFS, Dir: "/t1", CephFS: &CephFSOptions{Conf: "/etc/ceph/ceph.conf"}}, nil)
	if !errors.Is(err, cephfs.ErrUnavailable) {
		t.Fatalf("Build: got %v, want an error wrapping cephfs.ErrUnavailable", err)
	}
}
