package cache

import (
	"sort"
	"sync"
	"sync/atomic"

	"polytropon/fs"
)

// inode is the cache's state of one file of one backend, shared by every
// tenant of the pool that wraps that backend.
type inode struct {
	be *backend
	id fileID

	// mu serializes the operations that change the size other than plain
	// writes: truncate, append, allocate. Taken before any page lock.
	mu        sync.Mutex
	size      atomic.Int64 // logical size, including unflushed writes
	lastWrite atomic.Int64 // unix nanoseconds of the last cached write

	// Guarded by Shared.mu.
	pages    map[int64]*Page
	handles  int     // open cache files
	writers  []*File // writable open files, whose wrapped handles write back
	ndirty   int
	unlinked bool      // the last name is gone; pages die with the last handle
	valid    attrStamp // the wrapped file's attributes when last validated
	closeSeq uint64    // Shared.closeSeq at the last close of a writer
	wbErr    error     // first unreported write-back error
}

// attrStamp is what revalidation compares: if any of it changed behind the
// cache's back, the cached pages are stale.
type attrStamp struct {
	size         int64
	mtime, ctime fs.Timespec
}

func stampOf(st fs.Stat) attrStamp {
	return attrStamp{size: st.Size, mtime: st.Mtime, ctime: st.Ctime}
}

// openInode finds or makes the inode of st for a new handle. An inode with
// no open handle is revalidated first: if the file changed behind the
// cache's back (another client, close-to-open), its pages are dropped.
// seq is Shared.closeSeq read before st was taken: if a writer of the inode
// closed since, st may predate that writer's flush, and openInode returns
// nil so that the caller takes st again. A forgotten inode leaves no
// closeSeq of its own, so a new inode is only made from st if no writer of
// the backend closed since seq (else its size could be stale and appends
// would overwrite the writer's data).
func (s *Shared) openInode(be *backend, st fs.Stat, seq uint64) *inode {
	id := fileID{st.Dev, st.Ino}
	s.mu.Lock()
	defer s.mu.Unlock()
	ino := be.inodes[id]
	switch {
	case ino != nil && ino.handles == 0 && ino.valid != stampOf(st) && ino.closeSeq > seq:
		return nil
	case ino == nil && be.closeSeq > seq:
		return nil
	case ino == nil:
		ino = &inode{be: be, id: id, pages: map[int64]*Page{}, valid: stampOf(st)}
		ino.size.Store(st.Size)
		be.inodes[id] = ino
	case ino.handles == 0 && ino.valid != stampOf(st):
		for _, p := range ino.pages {
			if p.dirtier == nil && p.mu.TryLock() {
				s.dropLocked(p)
			}
		}
		ino.valid = stampOf(st)
		ino.size.Store(st.Size)
	}
	ino.handles++
	return ino
}

// closeInode releases a handle (and its wrapped writable handle w). The
// inode's pages go with the last handle of an unlinked file; stamp, when
// set, records the wrapped file's attributes after the final flush.
func (s *Shared) closeInode(ino *inode, w *File, stamp *attrStamp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range ino.writers {
		if x == w {
			ino.writers = append(ino.writers[:i], ino.writers[i+1:]...)
			break
		}
	}
	ino.handles--
	if stamp != nil {
		ino.valid = *stamp
	}
	if w != nil {
		ino.closeSeq = s.closeSeq.Add(1)
		ino.be.closeSeq = ino.closeSeq
	}
	if ino.handles > 0 {
		return
	}
	if ino.unlinked || len(ino.writers) == 0 && ino.ndirty > 0 {
		// Nobody can write these pages back any more.
		for _, p := range ino.pages {
			if p.mu.TryLock() {
				s.dropLocked(p)
			}
		}
	}
	s.maybeForgetLocked(ino)
}

// unlinked marks the inode of id dead: a new file that reuses the inode
// number gets a fresh inode; open handles keep the old one.
func (s *Shared) forget(be *backend, id fileID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ino := be.inodes[id]
	if ino == nil {
		return
	}
	delete(be.inodes, id)
	ino.unlinked = true
	if ino.handles == 0 {
		for _, p := range ino.pages {
			if p.mu.TryLock() {
				s.dropLocked(p)
			}
		}
	}
}

// lookupInode returns the live inode of id, or nil.
func (s *Shared) lookupInode(be *backend, id fileID) *inode {
	s.mu.Lock()
	defer s.mu.Unlock()
	return be.inodes[id]
}

// pagesOf lists ino's pages with index >= from, in index order.
func (s *Shared) pagesOf(ino *inode, from int64, dirtyOnly bool) []*Page {
	s.mu.Lock()
	var out []*Page
	for idx, p := range ino.pages {
		if idx >= from && (!dirtyOnly || p.dirtier != nil) {
			out = append(out, p)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].idx < out[j].idx })
	return out
}

// flushInode writes back every dirty page of ino in [lo, hi) page indexes
// (hi < 0: to the end), runs of contiguous dirty bytes with one write each,
// and returns the first error, including one the flusher met earlier.
func (s *Shared) flushInode(ino *inode, lo, hi int64) error {
	var first error
	pages := s.pagesOf(ino, lo, true)
	if hi >= 0 {
		for i, p := range pages {
			if p.idx >= hi {
				pages = pages[:i]
				break
			}
		}
	}
	if err := s.writebackPages(pages); err != nil {
		first = err
	}
	s.mu.Lock()
	if first == nil {
		first = ino.wbErr
	}
	ino.wbErr = nil
	s.mu.Unlock()
	return first
}

// writebackPages writes back pages of one inode sorted by index, coalescing
// runs of contiguous dirty bytes (up to one scratch buffer) into one write.
// Page locks are taken in ascending index order.
func (s *Shared) writebackPages(pages []*Page) error {
	var first error
	ps := s.pageSize
	for i := 0; i < len(pages); {
		p := pages[i]
		p.mu.Lock()
		if p.gone || !p.dirty() {
			p.mu.Unlock()
			i++
			continue
		}
		run := []*Page{p}
		for j := i + 1; j < len(pages) && len(run) < s.batchPages(); j++ {
			q, prev := pages[j], run[len(run)-1]
			if q.idx != prev.idx+1 || prev.dhi != ps {
				break
			}
			q.mu.Lock()
			if q.gone || !q.dirty() || q.dlo != 0 {
				q.mu.Unlock()
				break
			}
			run = append(run, q)
		}
		if err := s.writebackRunLocked(run); err != nil {
			if first == nil {
				first = err
			}
			s.noteError(p, err)
		}
		for _, q := range run {
			q.mu.Unlock()
		}
		i += len(run)
	}
	return first
}

// invalidate drops ino's pages with index in [lo, hi) (hi < 0: to the end),
// dirty ones included; callers flush first when the data must survive.
func (s *Shared) invalidate(ino *inode, lo, hi int64) {
	for _, p := range s.pagesOf(ino, lo, false) {
		if hi >= 0 && p.idx >= hi {
			break
		}
		p.mu.Lock()
		if p.gone {
			p.mu.Unlock()
			continue
		}
		s.mu.Lock()
		s.dropLocked(p)
		s.mu.Unlock()
	}
}

// truncate sets ino's size to size: the logical size first (so write-back
// clips to it), then the cached pages (dropped beyond, the straddling one
// zeroed past the end), then the wrapped file through do.
// Preconditions: ino.mu held.
func (s *Shared) truncate(ino *inode, size int64, do func() error) error {
	ps := int64(s.pageSize)
	old := ino.size.Load()
	ino.size.Store(size)
	if size < old {
		first := (size + ps - 1) / ps
		s.invalidate(ino, first, -1)
		if r := size % ps; r != 0 {
			s.mu.Lock()
			p := ino.pages[size/ps]
			s.mu.Unlock()
			if p != nil {
				p.mu.Lock()
				if !p.gone {
					clear(p.data[r:])
					p.dhi = min(p.dhi, int(r))
					if p.dlo >= p.dhi {
						p.dlo, p.dhi = 0, 0
						s.mu.Lock()
						s.cleanLocked(p)
						s.mu.Unlock()
					}
				}
				p.mu.Unlock()
			}
		}
	}
	if err := do(); err != nil {
		ino.size.Store(old)
		return err
	}
	return nil
}
