package cache

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Cache is one tenant's cache instance over a wrapped service. New and
// Shared.Tenant return it as an fs.Service (with fs.Xattrer when the wrapped
// service has it).
type Cache struct {
	s       *Shared
	t       *Tenant
	be      *backend
	backend fs.Service
	o       Options
	private bool // the pool was made by New and dies with this instance
	attrs   attrCache

	stop   chan struct{}
	done   chan struct{}
	closed atomic.Bool
}

// xattrCache is a Cache over a service with extended attributes.
type xattrCache struct {
	*Cache
	x fs.Xattrer
}

var (
	_ fs.Service   = (*Cache)(nil)
	_ fs.Flusher   = (*Cache)(nil)
	_ fs.Unwrapper = (*Cache)(nil)
	_ fs.Xattrer   = (*xattrCache)(nil)
)

// New returns a private cache over backend: a pool of opts.Capacity bytes
// (default 256 MiB) with one tenant. The backend is not closed by Close.
func New(backend fs.Service, opts Options) (fs.Service, error) {
	capacity := opts.Capacity
	if capacity == 0 {
		capacity = DefaultCapacity
	}
	policy := opts.Policy
	if policy == "" {
		policy = DefaultPolicy
	}
	ps := opts.PageSize
	if ps == 0 {
		ps = DefaultPageSize
	}
	s, err := NewShared(capacity, policy, WithPageSize(ps))
	if err != nil {
		return nil, err
	}
	return s.tenant("private", 1, backend, opts, true)
}

// MaxWeight is the largest tenant weight (cgroup io.weight's range).
const MaxWeight = 10000

// Tenant returns the cache instance of a tenant of the pool over backend,
// with its weight (1..MaxWeight) and settings. Tenants that wrap the same
// backend service value share its cached files (see the package
// documentation). The instance's Close removes the tenant, not the pool.
func (s *Shared) Tenant(name string, weight int, backend fs.Service, opts Options) (fs.Service, error) {
	return s.tenant(name, weight, backend, opts, false)
}

func (s *Shared) tenant(name string, weight int, backend fs.Service, opts Options, private bool) (fs.Service, error) {
	if backend == nil {
		return nil, fmt.Errorf("%w: tenant %q: nil backend", ErrInvalidOptions, name)
	}
	if weight < 1 || weight > MaxWeight {
		return nil, fmt.Errorf("%w: tenant %q: weight %d: want 1..%d", ErrInvalidOptions, name, weight, MaxWeight)
	}
	o, err := opts.withDefaults(int64(s.frames) * int64(s.pageSize))
	if err != nil {
		return nil, fmt.Errorf("tenant %q: %w", name, err)
	}
	c := &Cache{s: s, backend: backend, o: o, private: private,
		stop: make(chan struct{}), done: make(chan struct{})}
	c.be = s.attachBackend(backend)
	c.t = s.addTenant(name, weight, o.Capacity)
	go c.flusher()
	if x, ok := backend.(fs.Xattrer); ok {
		return &xattrCache{Cache: c, x: x}, nil
	}
	return c, nil
}

// String names the instance for logs.
func (c *Cache) String() string { return fmt.Sprintf("cache(%s, %v)", c.t.name, c.backend) }

// Unwrap returns the wrapped service.
func (c *Cache) Unwrap() []fs.Service { return []fs.Service{c.backend} }

// Tenant returns the pool's record of this instance's tenant.
func (c *Cache) Tenant() *Tenant { return c.t }

// Pool is the pool the instance is a tenant of (its private pool for New).
func (c *Cache) Pool() *Shared { return c.s }

// Close writes back the tenant's dirty pages, stops its flusher and leaves
// the pool. The wrapped service is not closed: it belongs to the caller.
// Files still open become invalid.
func (c *Cache) Close() error {
	if c.closed.Swap(true) {
		return fs.PathError("close", "", syscall.EBADF)
	}
	close(c.stop)
	<-c.done
	err := c.flushTenant()
	c.s.removeTenant(c.t, c.be)
	return err
}

// flusher is the tenant's own write-back goroutine: it runs in the
// tenant's service process, so on the tenant's cores.
func (c *Cache) flusher() {
	defer close(c.done)
	tick := time.NewTicker(c.o.WritebackInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			// Expired pages, by file and index, so runs coalesce.
			pages := c.s.expired(c.t, c.o.DirtyExpire)
			c.s.mu.Lock()
			sort.Slice(pages, func(i, j int) bool {
				a, b := pages[i], pages[j]
				if a.ino != b.ino {
					return a.ino.id.dev < b.ino.id.dev || a.ino.id.dev == b.ino.id.dev && a.ino.id.ino < b.ino.id.ino
				}
				return a.idx < b.idx
			})
			c.s.mu.Unlock()
			for len(pages) > 0 {
				n := 1
				for n < len(pages) && pages[n].ino == pages[0].ino {
					n++
				}
				c.s.writebackPages(pages[:n])
				pages = pages[n:]
			}
		}
	}
}

func (c *Cache) flushTenant() error {
	var first error
	for _, p := range c.s.dirtyOf(c.t) {
		if err := c.s.writebackPage(p); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// throttle writes back the tenant's oldest dirty pages while it is over
// its dirty limit.
func (c *Cache) throttle() error {
	limit := int(c.o.MaxDirty / int64(c.s.pageSize))
	for {
		c.s.mu.Lock()
		over := c.t.dirty > limit
		c.s.mu.Unlock()
		if !over {
			return nil
		}
		wrote, err := c.s.writebackOldest(c.t)
		if err != nil || !wrote {
			return err
		}
	}
}

// Flush writes every dirty page of this backend back (then flushes the
// wrapped service if it caches too).
func (c *Cache) Flush(ctx context.Context) error {
	var errs []error
	c.s.mu.Lock()
	var dirty []*Page
	for _, t := range c.s.tenants {
		for p := t.dirtyHead; p != nil; p = p.dnext {
			if p.ino.be == c.be {
				dirty = append(dirty, p)
			}
		}
	}
	c.s.mu.Unlock()
	for _, p := range dirty {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.s.writebackPage(p); err != nil {
			errs = append(errs, err)
		}
	}
	if f, ok := c.backend.(fs.Flusher); ok {
		errs = append(errs, f.Flush(ctx))
	}
	return errors.Join(errs...)
}

// Drop flushes, then discards every clean cached page of this backend and
// the attribute cache (and drops the wrapped service's cache).
func (c *Cache) Drop(ctx context.Context) error {
	if err := c.Flush(ctx); err != nil {
		return err
	}
	c.s.mu.Lock()
	for _, ino := range c.be.inodes {
		for _, p := range ino.pages {
			if p.dirtier == nil && p.mu.TryLock() {
				c.s.dropLocked(p)
			}
		}
	}
	c.s.mu.Unlock()
	c.bump()
	if f, ok := c.backend.(fs.Flusher); ok {
		return f.Drop(ctx)
	}
	return nil
}

// bump invalidates every cached name and attribute of the backend.
func (c *Cache) bump() { c.be.epoch.Add(1) }

// ---- names and attributes ----

func (c *Cache) Stat(ctx context.Context, name string) (fs.Stat, error) {
	return c.stat(ctx, "stat", name, true)
}

func (c *Cache) Lstat(ctx context.Context, name string) (fs.Stat, error) {
	return c.stat(ctx, "lstat", name, false)
}

func (c *Cache) stat(ctx context.Context, op, name string, follow bool) (fs.Stat, error) {
	key := "L" + fs.Clean(name)
	if follow {
		key = "S" + key[1:]
	}
	for {
		seq := c.s.closeSeq.Load()
		ep := c.be.epoch.Load()
		if r, ok := c.attrs.get(key, ep); ok {
			if r.errno != 0 {
				return fs.Stat{}, fs.PathError(op, name, r.errno)
			}
			if st, ok := c.overlay(r.st, seq); ok {
				return st, nil
			}
			continue
		}
		st, err := c.backendStat(ctx, name, follow)
		switch {
		case err == nil:
			c.attrs.put(key, statResult{st: st}, ep, c.o.AttrTimeout)
			if st, ok := c.overlay(st, seq); ok {
				return st, nil
			}
			continue
		case fs.Errno(err) == syscall.ENOENT:
			c.attrs.put(key, statResult{errno: syscall.ENOENT}, ep, c.o.EntryTimeout)
		}
		return st, err
	}
}

// overlay corrects the wrapped service's attributes of an open file with
// what the cache holds and the service does not have yet: the logical size,
// the time of the last cached write and blocks for dirty pages. seq is
// Shared.closeSeq read before st was taken (or looked up): if the file is
// not open now but a writer closed since, st may predate that writer's
// write-back, which the overlay covered until the close, and ok is false:
// the caller takes st again.
func (c *Cache) overlay(st fs.Stat, seq uint64) (_ fs.Stat, ok bool) {
	if !st.IsRegular() {
		return st, true
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	ino := c.be.inodes[fileID{st.Dev, st.Ino}]
	if ino == nil || ino.handles == 0 {
		// A forgotten inode leaves only the backend's closeSeq.
		last := c.be.closeSeq
		if ino != nil {
			last = ino.closeSeq
		}
		return st, last <= seq
	}
	return c.overlayLocked(st, ino), true
}

// overlayInode is overlay for the inode of an open handle.
func (c *Cache) overlayInode(st fs.Stat, ino *inode) fs.Stat {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if ino.handles == 0 {
		return st
	}
	return c.overlayLocked(st, ino)
}

// overlayLocked applies the open inode's attributes; c.s.mu is held.
func (c *Cache) overlayLocked(st fs.Stat, ino *inode) fs.Stat {
	st.Size = ino.size.Load()
	if ino.ndirty > 0 {
		st.Blocks += int64(ino.ndirty) * int64(c.s.pageSize) / 512
	}
	if w := ino.lastWrite.Load(); w != 0 {
		ts := fs.Timespec{Sec: w / 1e9, Nsec: w % 1e9}
		if tsBefore(st.Mtime, ts) {
			st.Mtime = ts
		}
		if tsBefore(st.Ctime, ts) {
			st.Ctime = ts
		}
	}
	return st
}

func tsBefore(a, b fs.Timespec) bool { return a.Sec < b.Sec || a.Sec == b.Sec && a.Nsec < b.Nsec }

// backendStat is the wrapped service's Stat, or Lstat if not follow.
func (c *Cache) backendStat(ctx context.Context, name string, follow bool) (fs.Stat, error) {
	if follow {
		return c.backend.Stat(ctx, name)
	}
	return c.backend.Lstat(ctx, name)
}

// inodeOf returns the cached inode name resolves to, if any.
func (c *Cache) inodeOf(ctx context.Context, name string, follow bool) *inode {
	st, err := c.backendStat(ctx, name, follow)
	if err != nil || !st.IsRegular() {
		return nil
	}
	return c.s.lookupInode(c.be, fileID{st.Dev, st.Ino})
}

func (c *Cache) Mkdir(ctx context.Context, name string, mode uint32) error {
	defer c.bump()
	return c.backend.Mkdir(ctx, name, mode)
}

func (c *Cache) Rmdir(ctx context.Context, name string) error {
	defer c.bump()
	return c.backend.Rmdir(ctx, name)
}

// Unlink removes a name; when it was the file's last link the file's pages
// die with its last open handle (inode numbers are reused).
func (c *Cache) Unlink(ctx context.Context, name string) error {
	defer c.bump()
	st, lerr := c.backend.Lstat(ctx, name)
	if err := c.backend.Unlink(ctx, name); err != nil {
		return err
	}
	if lerr == nil && st.IsRegular() && st.Nlink <= 1 {
		c.s.forget(c.be, fileID{st.Dev, st.Ino})
	}
	return nil
}

// Rename renames; a regular file replaced at newname loses its pages as in
// Unlink.
func (c *Cache) Rename(ctx context.Context, oldname, newname string, flags uint32) error {
	defer c.bump()
	ost, oerr := c.backend.Lstat(ctx, oldname)
	nst, nerr := c.backend.Lstat(ctx, newname)
	if err := c.backend.Rename(ctx, oldname, newname, flags); err != nil {
		return err
	}
	replaced := nerr == nil && nst.IsRegular() && nst.Nlink <= 1 && flags&unix.RENAME_EXCHANGE == 0
	if replaced && (oerr != nil || ost.Dev != nst.Dev || ost.Ino != nst.Ino) {
		c.s.forget(c.be, fileID{nst.Dev, nst.Ino})
	}
	return nil
}

func (c *Cache) OpenDir(ctx context.Context, name string) (fs.Dir, error) {
	return c.backend.OpenDir(ctx, name)
}

func (c *Cache) Symlink(ctx context.Context, target, linkname string) error {
	defer c.bump()
	return c.backend.Symlink(ctx, target, linkname)
}

func (c *Cache) Readlink(ctx context.Context, name string) (string, error) {
	return c.backend.Readlink(ctx, name)
}

func (c *Cache) Link(ctx context.Context, oldname, newname string) error {
	defer c.bump()
	return c.backend.Link(ctx, oldname, newname)
}

func (c *Cache) Chmod(ctx context.Context, name string, mode uint32) error {
	defer c.bump()
	return c.backend.Chmod(ctx, name, mode)
}

func (c *Cache) Chown(ctx context.Context, name string, uid, gid int, flags int) error {
	defer c.bump()
	return c.backend.Chown(ctx, name, uid, gid, flags)
}

// Utimens writes the file's dirty pages back first, so that a later
// write-back cannot move the times the caller set.
func (c *Cache) Utimens(ctx context.Context, name string, times [2]fs.Timespec, flags int) error {
	defer c.bump()
	if ino := c.inodeOf(ctx, name, flags&unix.AT_SYMLINK_NOFOLLOW == 0); ino != nil {
		if err := c.s.flushInode(ino, 0, -1); err != nil {
			return fs.PathError("utimens", name, fs.Errno(err))
		}
		ino.lastWrite.Store(0) // the times set now win over earlier writes
	}
	return c.backend.Utimens(ctx, name, times, flags)
}

func (c *Cache) Truncate(ctx context.Context, name string, size int64) error {
	defer c.bump()
	if size < 0 {
		return fs.PathError("truncate", name, syscall.EINVAL)
	}
	ino := c.inodeOf(ctx, name, true)
	if ino == nil {
		return c.backend.Truncate(ctx, name, size)
	}
	ino.mu.Lock()
	defer ino.mu.Unlock()
	return c.s.truncate(ino, size, func() error { return c.backend.Truncate(ctx, name, size) })
}

func (c *Cache) Access(ctx context.Context, name string, mode uint32) error {
	return c.backend.Access(ctx, name, mode)
}

func (c *Cache) Statfs(ctx context.Context, name string) (fs.Statfs, error) {
	return c.backend.Statfs(ctx, name)
}

// ---- extended attributes (forwarded; they change ctime) ----

func (x *xattrCache) Getxattr(ctx context.Context, name, attr string, dest []byte) (int, error) {
	return x.x.Getxattr(ctx, name, attr, dest)
}

func (x *xattrCache) Setxattr(ctx context.Context, name, attr string, data []byte, flags int) error {
	defer x.bump()
	return x.x.Setxattr(ctx, name, attr, data, flags)
}

func (x *xattrCache) Listxattr(ctx context.Context, name string, dest []byte) (int, error) {
	return x.x.Listxattr(ctx, name, dest)
}

func (x *xattrCache) Removexattr(ctx context.Context, name, attr string) error {
	defer x.bump()
	return x.x.Removexattr(ctx, name, attr)
}
