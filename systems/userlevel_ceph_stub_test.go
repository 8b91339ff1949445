//go:build !(ceph && cgo)

package systems

import (
	"errors"
	"strings"
	"testing"
)

// Without libcephfs in the binary D-ceph says so, and the runner skips it
// with that reason.
func TestUserlevelCephUnavailableWithoutTag(t *testing.T) {
	s, err := Lookup("D-ceph")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Check(); !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "-tags") {
		t.Errorf("Check: got %v, want ErrUnavailable naming the build tag", err)
	}
}
