package systems

// FP-ceph is the paper's FP: one ceph-fuse client per container with the
// kernel page cache in front of it. See ceph_fuse.go.
func init() { Register(&cephFuseSystem{v: cephVariant{name: "FP-ceph", pageCache: true}}) }
