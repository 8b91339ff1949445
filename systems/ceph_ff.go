package systems

// F/F is the paper's F/F: per container, unionfs-fuse (direct_io) over the
// container's private ceph-fuse mount (direct I/O) and the pool's shared
// read-only image (one ceph-fuse mount per pool). See ceph_fuse.go.
func init() { Register(&cephFuseSystem{v: cephVariant{name: "F/F", union: true}}) }
