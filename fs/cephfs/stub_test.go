//go:build !(ceph && cgo)

package cephfs

import (
	"errors"
	"testing"
)

func TestNewWithoutCephTag(t *testing.T) {
	f, err := New(t.Context(), Config{ConfPath: "/etc/ceph/ceph.conf", ID: "t1", Root: "/t1"})
	if f != nil || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("New: got (%v, %v), want (nil, an error wrapping ErrUnavailable)", f, err)
	}
	if Available {
		t.Error("Available is true in a build without -tags ceph")
	}
}
