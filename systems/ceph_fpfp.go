package systems

// FP/FP is the paper's FP/FP: F/F with the kernel page cache on, in front
// of both the union and the ceph-fuse mounts (so data can be cached twice).
// See ceph_fuse.go.
func init() { Register(&cephFuseSystem{v: cephVariant{name: "FP/FP", pageCache: true, union: true}}) }
