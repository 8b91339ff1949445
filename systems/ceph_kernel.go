package systems

import (
	"context"
	"fmt"
	"os"
)

// K-ceph, K/K-ceph and F/K are the paper's kernel CephFS systems (K: the
// kernel client; K/K: AUFS over it; F/K: unionfs-fuse over it). They need
// `mount -t ceph`, which this kernel lacks (no ceph in /proc/filesystems
// and no loadable modules), so Check reports them unavailable with the
// reason; on a host with the module they still need an implementation.
func init() {
	for _, n := range []string{"K-ceph", "K/K-ceph", "F/K"} {
		Register(&cephKernelSystem{name: n})
	}
}

type cephKernelSystem struct{ name string }

func (s *cephKernelSystem) Name() string { return s.name }

// NewOptions is nil: these systems take no options.
func (s *cephKernelSystem) NewOptions() any { return nil }

// Check always fails: either the kernel has no CephFS client, or (with
// one) this harness has no kernel CephFS system yet.
func (s *cephKernelSystem) Check() error {
	have, err := os.ReadFile("/proc/filesystems")
	if err != nil || !hasFilesystem(string(have), "ceph") {
		return fmt.Errorf("%w: %s: kernel has no ceph module (mount -t ceph fails)", ErrUnavailable, s.name)
	}
	return fmt.Errorf("%w: %s: kernel CephFS systems are not implemented in this harness yet", ErrUnavailable, s.name)
}

// Setup fails like Check.
func (s *cephKernelSystem) Setup(context.Context, Pool, Request) (Instance, error) {
	return nil, s.Check()
}
