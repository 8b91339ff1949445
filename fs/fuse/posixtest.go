package fuse

// PosixtestSkips are the cases of go-fuse's POSIX suite (posixtest.All)
// that check something other than POSIX for this bridge, with the reason.
// The suite runs against the bridge (fs/fuse) and against the filesystem
// service's own mounts (fs/service); both skip these.
var PosixtestSkips = map[string]string{
	// It takes a write lock and then a read lock on two descriptors of
	// one process and wants EAGAIN: per-descriptor (OFD) semantics, which
	// go-fuse's loopback gets by forwarding F_SETLK to OFD locks on its
	// backing files. POSIX record locks belong to the process, so the
	// second lock succeeds; the bridge does not forward locks and the
	// kernel applies POSIX semantics itself, which is exact for a mount
	// used on one host.
	"FcntlFlockLocksFile": "expects OFD semantics from F_SETLK; POSIX locks are per process (locks are kernel-local on this mount)",
}
