// Package cache is the caching libservice of Polytropon: a page cache in
// user space that wraps any fs.Service (local, union, cephfs) and that
// several tenants can share with declared weights (the Justitia
// weight-aware page cache of the papers, digest §5).
//
// # Pools, tenants and instances
//
// A Shared pool is one memory budget of fixed-size pages. Each tenant gets
// its own cache instance from it (Shared.Tenant), an fs.Service over the
// tenant's backend, with its own settings (Options: capacity cap, dirty
// limit, dirty expiry, write-back interval, write-through, attribute and
// entry timeouts, read-ahead). New makes a private pool with one tenant.
// Every page records its owner, the tenant whose miss brought it in.
//
// # Sharing a file between tenants
//
// Pages are keyed by (backend, file), where backend is the identity of the
// wrapped fs.Service value and file is the (st_dev, st_ino) the backend
// reports. Tenants whose instances wrap the same service value therefore
// share the pages of a file: the clones of the papers' scale-up
// experiments build union(private upper, tenant's cache instance over the
// shared lower service) and read the shared image once (the digest: "the
// client cache lives inside the backend client; union runs without its own
// cache; shared branches are cached once"). A cache wrapped around a whole
// union sees the union as its backend, so two such caches share nothing:
// put the cache below the union. (dev, ino) are only compared inside one
// backend, so two backends with colliding numbers never mix. Inode numbers
// are reused after unlink: an Unlink or a Rename through the cache that
// removes a file's last link retires its cached inode (open handles keep
// reading it, new opens get a fresh one), and an open of a file that no
// handle holds compares size, mtime and ctime with what the cache recorded
// and drops stale pages (close-to-open).
//
// # Page size
//
// The default page is 64 KiB, not 4 KiB: the cache's per-page cost (a map
// lookup, a lock, a policy update) is paid per page, so 64 KiB pages cut it
// 16-fold for the large sequential transfers of the papers' workloads
// (Filebench reads and writes whole files in 1 MiB chunks), and a page is
// a multiple of every O_DIRECT alignment, so a full-page fill or write-back
// through fs/local with O_DIRECT needs no bounce buffer. The price is read amplification for small random
// reads of cold data and coarser eviction; WithPageSize / Options.PageSize
// choose 4 KiB for random-I/O workloads.
//
// # Reads
//
// A hit copies from the page. A miss allocates pages and fills them with
// one read of the wrapped service; on a sequential stream (a read that
// starts where an earlier read of the same handle ended; each handle
// tracks four streams) the fill extends beyond the request by a
// read-ahead window that starts at two pages and doubles up to
// MaxReadahead (1 MiB). Fills read at most 1 MiB at a time.
//
// # Writes, dirty pages and durability
//
// In write-back mode (default) Pwrite copies into pages and marks them
// dirty; a page written only partly keeps its dirty byte range and is
// completed from the backend when it is read. Dirty pages are written back
//   - by the tenant's flusher goroutine, which wakes every
//     WritebackInterval (1 s) and writes pages dirty for longer than
//     DirtyExpire (5 s);
//   - by a writer whose tenant is over MaxDirty (50% of its capacity): it
//     writes back its tenant's oldest pages before its Pwrite returns;
//   - by an allocation that finds nothing clean to reclaim;
//   - by File.Sync, Close, Utimens, Allocate and CopyFileRange, and
//     Flusher.Flush.
//
// The flusher and all synchronous write-back run on goroutines of the
// tenant's instance; the harness pins the filesystem service's threads to
// the pool's cores, so a tenant's write-back runs on the tenant's own
// cores, unlike the kernel's flusher threads that run anywhere ("CPU
// steal", digest §1).
//
// File.Sync(datasync) writes back every dirty page of the file (including
// pages another handle or tenant dirtied, and waiting for a write-back in
// progress) and then calls the wrapped file's Sync(datasync): when it
// returns, the data is in the wrapped service and as durable as that
// service's Sync makes it. A crash of the process loses at most data not
// yet synced (TestCrashKeepsSyncedData kills a writer with SIGKILL).
// Close writes the file's dirty pages back (close-to-open: another client
// that opens the file afterwards reads the data) but does not sync.
// A write-back error is returned by the next Sync or Close of the file.
//
// WriteThrough (or O_SYNC / O_DSYNC) sends every Pwrite to the wrapped
// service before it returns; pages holding the range are updated, none is
// allocated for the write. O_APPEND is done by the cache at its logical
// size (the wrapped file is opened without it, so that write-back can use
// positional writes).
//
// O_DIRECT files bypass the pages: at open the file's dirty pages are
// written back and its pages dropped; each direct read writes back the
// dirty pages of its range first, each direct write drops the pages of
// its range afterwards (as Linux keeps buffered and direct I/O coherent).
// A buffered read that races with a direct write may cache the old data,
// as on Linux.
//
// # Consistency
//
// A write is visible to every later read through any instance of the same
// pool over the same backend (they share the pages); requests of one
// thread are served in program order (every call is synchronous).
// Truncate (by name or handle) sets the logical size first, then drops the
// pages beyond it and zeroes the tail of the last one, then truncates the
// backend, so no write-back can resurrect cut data. Stat results are the
// backend's, corrected for open files by the cache's logical size, the
// time of the last cached write and blocks of dirty pages.
//
// Stat and Lstat results, and ENOENT results (negative dentries), are
// cached by name for AttrTimeout and EntryTimeout (1 s each, FUSE's
// defaults). Every change of names or attributes through any instance of
// the pool over the same backend (create, mkdir, unlink, rename, link,
// symlink, chmod, chown, utimens, truncate, xattr changes, close of a
// written file) invalidates them all; changes by other clients of the
// backend are seen when the timeouts expire.
//
// # Eviction and weights
//
// Eviction is pluggable (Policy, RegisterPolicy): "lru" (global LRU),
// "clock2q" (the conventional baseline, shaped like the kernel's
// active/inactive lists) and "weighted" (Justitia's weight-aware
// reclamation: tenant i's threshold is weight_i/Σweight × pool pages, and
// victims come from tenants above their thresholds first, then from all in
// LRU order). Dirty pages and pages in use are never victims.
//
// While the pool is full, every allocation must reclaim a page (and a read
// miss must then fill it): this is the contended "page allocation" path of
// the Justitia paper. At most WithAllocSlots (4) such allocations are in
// flight; the others wait in a queue that is first come, first served for
// the weight-blind policies and ordered by weight for "weighted", with
// aging (WithAging, default on) so that a light tenant is served within a
// bounded number of grants (see package internal/wfq). A read miss holds its slot
// until its fill is done, so the weights divide the backend bandwidth of
// misses as well as the pages. An allocation while the pool has free pages
// needs no slot.
//
// # Lock order
//
//	inode.mu (size changes: truncate, append, allocate)
//	  Page.mu (page content; several only in ascending index order)
//	    File.useMu (read side, taken under Shared.mu; see writebackLocked)
//	    Shared.mu (maps, lists, accounting)
//	      gate.mu
//
// Shared.mu is never held while blocking on a Page.mu (only TryLock).
//
// # Errors
//
// Errors from the wrapped service are returned unchanged; the cache's own
// are *os.PathError with a syscall.Errno (EBADF, EINVAL, ENOMEM when no
// page can be reclaimed for 30 s). Configuration errors wrap
// ErrInvalidOptions.
package cache
