package systems

// F-ceph is the paper's F: one ceph-fuse client per container with direct
// I/O (fuse_disable_pagecache), so the kernel page cache is bypassed and
// only ceph-fuse's own client cache remains. See ceph_fuse.go.
func init() { Register(&cephFuseSystem{v: cephVariant{name: "F-ceph"}}) }
