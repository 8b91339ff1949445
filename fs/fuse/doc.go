// Package fuse is the legacy interface of Polytropon: it exposes any
// libservice (an fs.Service: local, union, cache, Ceph client) as a kernel
// FUSE mount through go-fuse's node API. Statically linked programs and
// kernel-initiated I/O (exec of a binary, mmap of shared libraries) reach a
// filesystem instance this way; on its own the mount is also the baseline
// systems F (direct I/O, no kernel page cache) and FP (kernel page cache).
//
// # Use
//
//	srv, err := fuse.Mount(svc, "/mnt/x", fuse.Options{KernelCache: false})
//	...
//	defer srv.Unmount()
//
// Mount returns once the kernel has the mount; requests are served on
// goroutines of the calling process until Unmount (or an external
// `fusermount3 -u`). The service is not closed by the bridge: it belongs to
// the caller, who closes it after the server is gone (fs/stack builds the
// stacks that `polytropon mount` and the filesystem service serve).
//
// # Modes
//
// Options.KernelCache=false (system F): every open file gets FOPEN_DIRECT_IO
// and entry and attribute timeouts are zero, so each read, write, lookup and
// stat is a round trip to the daemon. Shared mmap still works: the bridge
// asks the kernel for FUSE_DIRECT_IO_ALLOW_MMAP (Linux 6.6+).
// Options.KernelCache=true (system FP): files are opened with
// FOPEN_KEEP_CACHE and entries and attributes are cached for CacheTimeout
// (1 s by default, libfuse's default), so repeated reads hit the page cache.
// Writes are write-through in both modes (no FUSE writeback cache).
//
// Kernel FUSE passthrough is always off: file handles do not implement
// go-fuse's FilePassthroughFder and the capability is withdrawn at INIT, so
// every read and write reaches the daemon (with passthrough the kernel would
// read the backing file itself and the baseline would measure the wrong
// thing; see the FUSE pitfall in host-notes).
//
// # Names and errors
//
// Nodes are path based: a node's service name is its path from the mount
// root in go-fuse's tree, rebuilt per call. Operations on an open file use
// the service's File (Pread, Pwrite, Stat, Truncate, Sync, Allocate), so
// they keep working after the name is unlinked or renamed; name-based
// operations on an unlinked node (fchmod of a deleted file) fail with
// ENOENT. Symbolic links are resolved by the kernel (READLINK only returns
// the target), so absolute targets resolve against the caller's root, as on
// any kernel filesystem. Errors are converted once, at the FUSE boundary,
// with fs.Errno.
// Requests are not cancelled by FUSE interrupts: the Go runtime's
// preemption signal (SIGURG) interrupts callers that are Go programs, and
// turning that into EINTR on, say, a union copy-up would fail their open(2).
//
// # Inode numbers
//
// The kernel sees the service's st_ino, mixed with st_dev the way go-fuse's
// loopback does: ino = st_ino XOR swap32(st_dev) XOR swap32(root st_dev).
// A service on one filesystem (local, a union whose branches share a device)
// therefore shows its own numbers unchanged, and entries of a union branch
// on another device get the device in the high bits, so two branches that
// both hold st_ino 12 do not collide. Directory entries (d_ino) carry the
// service's Dirent.Ino, which has no device: for entries of another device
// d_ino and st_ino differ.
//
// go-fuse deduplicates nodes by StableAttr (type, Ino, Gen). The bridge
// instead keeps its own table from (st_dev, st_ino) to the live node and
// gives every new node a fresh generation, so that hard links share one
// kernel inode while a number reused after an unlink never resolves to the
// dead file's node (whose page cache, in FP, would serve the old content):
// a node leaves the table when a name of it is unlinked, removed or renamed
// over through the mount, and when the kernel forgets it. Files deleted
// behind the bridge's back (directly in a backing directory) are not
// tracked. A union's copy-up changes (st_dev, st_ino): a copied-up file
// gets a new node (and number), as on overlayfs without xino; a directory
// already known under its name keeps its node and number, so descriptors
// and working directories opened before the copy-up stay valid.
//
// # Permissions and ownership
//
// The mount uses default_permissions: the kernel checks mode bits against
// the caller, since the daemon (root) performs every call with its own
// credentials. When a caller other than the daemon's user creates a file,
// directory or symlink, the bridge chowns it to the caller, as a kernel
// filesystem would.
//
// # Concurrency
//
// The bridge is safe for the concurrent requests go-fuse issues. Lock
// order: bridge.mu is a leaf (it is held only around its table and around
// go-fuse's NewInode, which takes only go-fuse's internal leaf locks).
package fuse
