package cache

import (
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"polytropon/fs"
)

// Shared is a cache pool: one memory budget of pages serving the cache
// instances of several tenants (see the package documentation). It is safe
// for concurrent use.
type Shared struct {
	pageSize int
	frames   int
	gate     *gate
	aging    bool

	// mu guards everything below, every inode's page map and handle
	// lists, every Page's pool fields and every Tenant's counters.
	mu       sync.Mutex
	policy   Policy
	polName  string
	tenants  []*Tenant
	nextID   int
	used     int // pages in the cache
	made     int // frames allocated so far
	free     [][]byte
	backends map[any]*backend

	usedA    atomic.Int64  // mirror of used, read without the lock
	closeSeq atomic.Uint64 // counts closes of writable files (see openInode)
}

var _ PoolInfo = (*Shared)(nil)

// backend is the per-wrapped-service state shared by every tenant of the
// pool that wraps the same service (identity = the service value).
type backend struct {
	key    any
	epoch  atomic.Uint64 // bumped by every namespace or attribute change
	inodes map[fileID]*inode
	refs   int
	// closeSeq is Shared.closeSeq at the last close of a writer of any of
	// its files (guarded by Shared.mu): an inode forgotten since a stat
	// was taken may have been grown after that stat.
	closeSeq uint64
}

// fileID is a file's identity inside one backend.
type fileID struct{ dev, ino uint64 }

// NewShared returns a pool of capacity bytes (rounded down to whole pages,
// at least 4 pages) whose eviction policy is the registered policy named
// ("lru", "clock2q", "weighted").
func NewShared(capacity int64, policy string, opts ...SharedOption) (*Shared, error) {
	cfg := sharedConfig{pageSize: DefaultPageSize, aging: true, allocSlots: 4}
	for _, o := range opts {
		o(&cfg)
	}
	if !validPageSize(cfg.pageSize) {
		return nil, fmt.Errorf("%w: page size %d: want a power of two from 512 to 16 MiB", ErrInvalidOptions, cfg.pageSize)
	}
	if capacity < 4*int64(cfg.pageSize) {
		return nil, fmt.Errorf("%w: capacity %d: want at least 4 pages of %d bytes", ErrInvalidOptions, capacity, cfg.pageSize)
	}
	if cfg.allocSlots < 1 {
		return nil, fmt.Errorf("%w: %d allocation slots: want at least 1", ErrInvalidOptions, cfg.allocSlots)
	}
	s := &Shared{
		pageSize: cfg.pageSize,
		frames:   int(capacity / int64(cfg.pageSize)),
		aging:    cfg.aging,
		polName:  policy,
		backends: map[any]*backend{},
	}
	p, err := newPolicy(policy, s)
	if err != nil {
		return nil, err
	}
	s.policy = p
	s.gate = newGate(cfg.allocSlots, p.WeightAware(), cfg.aging)
	return s, nil
}

// PageSize is the pool's page size in bytes.
func (s *Shared) PageSize() int { return s.pageSize }

// Frames is the pool's capacity in pages (PoolInfo).
func (s *Shared) Frames() int { return s.frames }

// Tenants lists the open tenants (PoolInfo; call under the pool lock, as
// policies do).
func (s *Shared) Tenants() []*Tenant { return s.tenants }

// TenantStats is a snapshot of one tenant's use of the pool.
type TenantStats struct {
	Name       string
	Weight     int
	Pages      int   // pages owned now
	Threshold  int   // weight share of the pool, in pages
	Dirty      int   // dirty pages
	Hits       int64 // page lookups served from the cache
	Misses     int64 // pages read from the wrapped service
	Grants     int64 // allocations admitted through the allocation queue
	Writebacks int64 // pages written back
}

// Stats returns every open tenant's statistics.
func (s *Shared) Stats() []TenantStats {
	s.mu.Lock()
	ts := append([]*Tenant(nil), s.tenants...)
	total := 0
	for _, t := range ts {
		total += t.weight
	}
	out := make([]TenantStats, len(ts))
	for i, t := range ts {
		out[i] = TenantStats{Name: t.name, Weight: t.weight, Pages: t.pages, Dirty: t.dirty,
			Threshold: int(float64(t.weight) / float64(total) * float64(s.frames)),
			Hits:      t.hits.Load(), Misses: t.misses.Load(), Writebacks: t.writebacks.Load()}
	}
	s.mu.Unlock()
	for i, t := range ts {
		out[i].Grants = s.gate.grants(t)
	}
	return out
}

// backendKey is the identity of a wrapped service: the interface value when
// comparable (services are pointers in practice), else a fresh key so that
// such a service is never shared.
func backendKey(svc fs.Service) any {
	if reflect.TypeOf(svc).Comparable() {
		return svc
	}
	return new(int)
}

func (s *Shared) attachBackend(svc fs.Service) *backend {
	k := backendKey(svc)
	s.mu.Lock()
	defer s.mu.Unlock()
	be := s.backends[k]
	if be == nil {
		be = &backend{key: k, inodes: map[fileID]*inode{}}
		s.backends[k] = be
	}
	be.refs++
	return be
}

func (s *Shared) addTenant(name string, weight int, capBytes int64) *Tenant {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	t := &Tenant{name: name, weight: weight, id: s.nextID, capPages: int(capBytes / int64(s.pageSize))}
	if t.capPages < 1 {
		t.capPages = 1
	}
	s.tenants = append(s.tenants, t)
	return t
}

// removeTenant drops the tenant from the pool: its clean pages are freed
// (pages still dirty, dirtied by others, stay and are charged to it until
// reclaimed).
func (s *Shared) removeTenant(t *Tenant, be *backend) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, o := range s.tenants {
		if o == t {
			s.tenants = append(s.tenants[:i], s.tenants[i+1:]...)
			break
		}
	}
	t.closed = true
	for _, b := range s.backends {
		for _, ino := range b.inodes {
			for _, p := range ino.pages {
				if p.owner == t && p.dirtier == nil && p.mu.TryLock() {
					s.dropLocked(p)
				}
			}
		}
	}
	be.refs--
	if be.refs == 0 && len(be.inodes) == 0 {
		delete(s.backends, be.key)
	}
}

// ---- frames and pages ----

// frameLocked returns a free page buffer while the pool is below capacity.
func (s *Shared) frameLocked() []byte {
	if s.used >= s.frames {
		return nil
	}
	if n := len(s.free); n > 0 {
		b := s.free[n-1]
		s.free = s.free[:n-1]
		return b
	}
	ps := s.pageSize
	chunk := min(64, s.frames-s.made)
	c := alignedChunk(chunk * ps)
	for i := 1; i < chunk; i++ {
		s.free = append(s.free, c[i*ps:(i+1)*ps:(i+1)*ps])
	}
	s.made += chunk
	return c[:ps:ps]
}

// reclaimable is the policy's ok callback: a clean page nobody holds. On
// success the page is returned locked.
func reclaimable(p *Page) bool {
	return p.dirtier == nil && p.mu.TryLock()
}

// allocLocked makes a new page (idx of ino) charged to t, locked for
// writing, reclaiming a victim if needed; nil when nothing is reclaimable.
func (s *Shared) allocLocked(t *Tenant, ino *inode, idx int64) *Page {
	var buf []byte
	switch {
	case t.pages >= t.capPages:
		if v := s.policy.Reclaim(t, func(p *Page) bool { return p.owner == t && reclaimable(p) }); v != nil {
			buf = s.evictLocked(v)
		}
	default:
		if buf = s.frameLocked(); buf == nil {
			if v := s.policy.Reclaim(t, reclaimable); v != nil {
				buf = s.evictLocked(v)
			}
		}
	}
	if buf == nil {
		return nil
	}
	p := &Page{data: buf, ino: ino, idx: idx, owner: t}
	p.mu.Lock()
	ino.pages[idx] = p
	s.policy.Added(p)
	t.pages++
	s.used++
	s.usedA.Store(int64(s.used))
	return p
}

// evictLocked removes a page whose lock the caller holds and returns its
// buffer. Preconditions: s.mu and p.mu held; p clean.
func (s *Shared) evictLocked(p *Page) []byte {
	buf := p.data
	p.data = nil
	p.gone = true
	p.uptodate = false
	delete(p.ino.pages, p.idx)
	s.policy.Removed(p)
	p.owner.pages--
	s.used--
	s.usedA.Store(int64(s.used))
	s.maybeForgetLocked(p.ino)
	p.mu.Unlock()
	return buf
}

// dropLocked discards a page (dirty bytes included) and frees its frame.
// Preconditions: s.mu and p.mu held. p.mu is released.
func (s *Shared) dropLocked(p *Page) {
	p.dlo, p.dhi = 0, 0
	if p.dirtier != nil {
		s.cleanLocked(p)
	}
	s.free = append(s.free, s.evictLocked(p))
}

// maybeForgetLocked deletes an inode nobody uses any more from its backend.
func (s *Shared) maybeForgetLocked(ino *inode) {
	if ino.handles == 0 && len(ino.pages) == 0 && !ino.unlinked {
		if ino.be.inodes[ino.id] == ino {
			delete(ino.be.inodes, ino.id)
		}
	}
}

// getPage returns the page idx of ino: an existing one (unlocked,
// created=false) or, if create, a new one locked for writing. When the pool
// has nothing reclaimable it writes dirty pages back (on the caller's
// goroutine) and retries; with wait=false it returns nil instead.
func (s *Shared) getPage(t *Tenant, ino *inode, idx int64, create, wait bool) (p *Page, created bool, err error) {
	start := time.Now()
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		if p := ino.pages[idx]; p != nil {
			s.policy.Accessed(p)
			s.mu.Unlock()
			return p, false, nil
		}
		if !create {
			s.mu.Unlock()
			return nil, false, nil
		}
		p := s.allocLocked(t, ino, idx)
		s.mu.Unlock()
		if p != nil {
			return p, true, nil
		}
		if !wait {
			return nil, false, nil
		}
		wrote, err := s.writebackOldest(t)
		if err != nil {
			return nil, false, err
		}
		if !wrote {
			if time.Since(start) > allocTimeout {
				return nil, false, syscall.ENOMEM
			}
			time.Sleep(min(time.Duration(20<<min(attempt, 8))*time.Microsecond, 2*time.Millisecond))
		}
	}
}

// allocTimeout bounds how long an allocation waits for a reclaimable page
// (every page dirty and unwritable, or all busy): nothing hangs.
var allocTimeout = 30 * time.Second

// admit takes an allocation slot when the pool is full; the returned func
// releases it. An allocation while the pool has free frames needs no slot.
func (s *Shared) admit(t *Tenant) func() {
	if s.usedA.Load() < int64(s.frames) {
		return func() {}
	}
	s.gate.acquire(t, t.weight)
	return s.gate.release
}

// ---- dirty state and write-back ----

// markDirtyLocked puts p on t's dirty list if it is not on one.
func (s *Shared) markDirtyLocked(p *Page, t *Tenant) {
	if p.dirtier != nil {
		return
	}
	p.dirtier, p.dirtySince = t, time.Now()
	p.dprev, p.dnext = t.dirtyTail, nil
	if t.dirtyTail != nil {
		t.dirtyTail.dnext = p
	} else {
		t.dirtyHead = p
	}
	t.dirtyTail = p
	t.dirty++
	p.ino.ndirty++
}

func (s *Shared) cleanLocked(p *Page) {
	t := p.dirtier
	if t == nil {
		return
	}
	if p.dprev != nil {
		p.dprev.dnext = p.dnext
	} else {
		t.dirtyHead = p.dnext
	}
	if p.dnext != nil {
		p.dnext.dprev = p.dprev
	} else {
		t.dirtyTail = p.dprev
	}
	p.dprev, p.dnext, p.dirtier = nil, nil, nil
	t.dirty--
	p.ino.ndirty--
}

// writebackLocked writes p's dirty range to the wrapped service and marks
// it clean. Preconditions: p.mu held for writing, s.mu not held.
func (s *Shared) writebackLocked(p *Page) error {
	if p.gone || !p.dirty() {
		return nil
	}
	return s.writebackRunLocked([]*Page{p})
}

// writebackRunLocked writes the dirty bytes of consecutive pages of one
// inode, contiguous (every page but the last dirty to its end, every page
// but the first dirty from its start), with one call of the wrapped
// service, and marks them clean. Preconditions: every page's mu held for
// writing and dirty, s.mu not held.
func (s *Shared) writebackRunLocked(run []*Page) error {
	first, last := run[0], run[len(run)-1]
	ino := first.ino
	ps := int64(s.pageSize)
	start := first.idx*ps + int64(first.dlo)
	end := last.idx*ps + int64(last.dhi)
	if size := ino.size.Load(); end > size {
		end = max(start, size)
	}
	if start < end {
		var buf []byte
		if len(run) == 1 {
			buf = first.data[first.dlo : int64(first.dlo)+end-start]
		} else {
			scratch := s.getScratch()
			defer s.putScratch(scratch)
			buf = scratch[:0]
			for _, p := range run {
				buf = append(buf, p.data[p.dlo:p.dhi]...)
			}
			buf = buf[:end-start]
		}
		// The writer's useMu keeps its wrapped handle open until the
		// write is done. RLock cannot block here: Close takes useMu only
		// after removing the file from ino.writers, under s.mu.
		s.mu.Lock()
		var w *File
		if len(ino.writers) > 0 {
			w = ino.writers[0]
			w.useMu.RLock()
		}
		s.mu.Unlock()
		if w == nil {
			return fs.PathError("writeback", "", syscall.EBADF)
		}
		_, err := w.bf.Pwrite(buf, start)
		w.useMu.RUnlock()
		if err != nil {
			return err
		}
	}
	s.mu.Lock()
	for _, p := range run {
		p.dlo, p.dhi = 0, 0
		if d := p.dirtier; d != nil {
			d.writebacks.Add(1)
		}
		s.cleanLocked(p)
	}
	s.mu.Unlock()
	return nil
}

// writebackPage locks p and writes it back if it is still dirty.
func (s *Shared) writebackPage(p *Page) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.writebackLocked(p)
}

// writebackOldest writes back t's oldest dirty page, or else the oldest
// dirty page of any tenant. It reports whether it wrote anything.
func (s *Shared) writebackOldest(t *Tenant) (bool, error) {
	s.mu.Lock()
	p := t.dirtyHead
	if p == nil {
		for _, o := range s.tenants {
			if h := o.dirtyHead; h != nil && (p == nil || h.dirtySince.Before(p.dirtySince)) {
				p = h
			}
		}
	}
	s.mu.Unlock()
	if p == nil {
		return false, nil
	}
	if err := s.writebackPage(p); err != nil {
		s.noteError(p, err)
		return false, err
	}
	return true, nil
}

// noteError records a write-back failure on the page's inode, to be
// reported by the next Sync or Close of the file (errseq style).
func (s *Shared) noteError(p *Page, err error) {
	s.mu.Lock()
	if p.ino != nil && p.ino.wbErr == nil {
		p.ino.wbErr = err
	}
	s.mu.Unlock()
}

// expired returns t's dirty pages older than age, oldest first.
func (s *Shared) expired(t *Tenant, age time.Duration) []*Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Page
	cut := time.Now().Add(-age)
	for p := t.dirtyHead; p != nil && !p.dirtySince.After(cut); p = p.dnext {
		out = append(out, p)
	}
	return out
}

// dirtyOf lists the dirty pages of t (all = true: of every tenant on be).
func (s *Shared) dirtyOf(t *Tenant) []*Page {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*Page
	for p := t.dirtyHead; p != nil; p = p.dnext {
		out = append(out, p)
	}
	return out
}
