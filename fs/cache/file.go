package cache

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// File is an open regular file of a Cache. Other kinds of files
// (directories, devices) are the wrapped service's own handles.
type File struct {
	c    *Cache
	ino  *inode
	bf   fs.File // the wrapped service's handle
	name string

	readable, writable bool
	appendMode         bool // O_APPEND: the cache appends at its logical size
	direct             bool // O_DIRECT: bypass the pages (see package doc)
	through            bool // write-through: Options.WriteThrough, O_SYNC, O_DSYNC
	closed             atomic.Bool
	// useMu is held for reading by write-backs through bf (of any file of
	// the inode) and for writing by Close before it closes bf.
	useMu sync.RWMutex

	raMu    sync.Mutex
	streams [4]stream // recent sequential streams of this handle
	raClock uint64
}

// stream is one sequential reader of a handle: where its next read should
// start and its read-ahead window.
type stream struct {
	next   int64
	window int64
	used   uint64
}

// cfrFile is a File whose wrapped handle can copy ranges.
type cfrFile struct{ *File }

var (
	_ fs.File           = (*File)(nil)
	_ fs.CopyFileRanger = (*cfrFile)(nil)
)

// Open opens name. O_APPEND and O_TRUNC are carried out by the cache (so
// that write-back can use positional writes); O_DIRECT files bypass the
// pages; O_SYNC and O_DSYNC files are write-through.
func (c *Cache) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	acc := flags & unix.O_ACCMODE
	writable := acc == unix.O_WRONLY || acc == unix.O_RDWR
	if flags&unix.O_CREAT == 0 {
		if r, ok := c.attrs.get("S"+fs.Clean(name), c.be.epoch.Load()); ok && r.errno == syscall.ENOENT {
			return nil, fs.PathError("open", name, syscall.ENOENT)
		}
	} else {
		defer c.bump()
	}
	bflags := flags &^ unix.O_APPEND
	if writable {
		bflags &^= unix.O_TRUNC
	}
	seq := c.s.closeSeq.Load()
	bf, err := c.backend.Open(ctx, name, bflags, mode)
	if err != nil {
		return nil, err
	}
	var ino *inode
	for ino == nil {
		st, err := bf.Stat()
		if err != nil {
			bf.Close()
			return nil, err
		}
		if !st.IsRegular() {
			return bf, nil
		}
		ino = c.s.openInode(c.be, st, seq)
		seq = c.s.closeSeq.Load()
	}
	f := &File{c: c, ino: ino, bf: bf, name: name,
		readable:   acc == unix.O_RDONLY || acc == unix.O_RDWR,
		writable:   writable,
		appendMode: flags&unix.O_APPEND != 0,
		direct:     flags&unix.O_DIRECT != 0,
		through:    c.o.WriteThrough || flags&(unix.O_SYNC|unix.O_DSYNC) != 0,
	}
	if writable {
		c.s.mu.Lock()
		ino.writers = append(ino.writers, f)
		c.s.mu.Unlock()
	}
	if flags&unix.O_TRUNC != 0 {
		// A read-only O_TRUNC open was truncated by the wrapped service
		// already; the cache only has to forget the old pages.
		do := func() error { return nil }
		if writable {
			do = func() error { return bf.Truncate(0) }
		}
		c.bump()
		ino.mu.Lock()
		err := c.s.truncate(ino, 0, do)
		ino.mu.Unlock()
		if err != nil {
			f.Close()
			return nil, err
		}
	}
	if f.direct {
		// Direct I/O starts coherent: nothing of this file stays cached.
		if err := c.s.flushInode(ino, 0, -1); err != nil {
			f.Close()
			return nil, err
		}
		c.s.invalidate(ino, 0, -1)
	}
	if _, ok := bf.(fs.CopyFileRanger); ok {
		return &cfrFile{f}, nil
	}
	return f, nil
}

func (f *File) err(op string, errno syscall.Errno) error { return fs.PathError(op, f.name, errno) }

func (f *File) pageSize() int64 { return int64(f.c.s.pageSize) }

// growSize raises the logical size to end.
func growSize(ino *inode, end int64) {
	for {
		cur := ino.size.Load()
		if end <= cur || ino.size.CompareAndSwap(cur, end) {
			return
		}
	}
}

// pageRange returns the indexes of the first and last page of [off, off+n).
func (f *File) pageRange(off int64, n int) (int64, int64) {
	ps := f.pageSize()
	return off / ps, (off + int64(n) - 1) / ps
}

// ---- reads ----

// Pread reads through the cache: hits are copied from the pages, misses
// fill pages from the wrapped service (with read-ahead on sequential
// streams).
func (f *File) Pread(p []byte, off int64) (int, error) {
	switch {
	case f.closed.Load():
		return 0, f.err("pread", syscall.EBADF)
	case off < 0:
		return 0, f.err("pread", syscall.EINVAL)
	case !f.readable:
		return 0, f.err("pread", syscall.EBADF)
	case len(p) == 0:
		return 0, nil
	}
	if f.direct {
		lo, hi := f.pageRange(off, len(p))
		if err := f.c.s.flushInode(f.ino, lo, hi+1); err != nil {
			return 0, err
		}
		return f.bf.Pread(p, off)
	}
	size := f.ino.size.Load()
	if off >= size {
		return 0, nil
	}
	n := int(min(int64(len(p)), size-off))
	ra := f.readahead(off, n)
	ps := f.pageSize()
	_, last := f.pageRange(off, n)
	s, t := f.c.s, f.c.t
	for done := 0; done < n; {
		pos := off + int64(done)
		idx, in := pos/ps, int(pos%ps)
		want := min(n-done, int(ps)-in)
		pg, _, err := s.getPage(t, f.ino, idx, false, false)
		if err != nil {
			return done, f.err("pread", fs.Errno(err))
		}
		if pg != nil {
			k, err := f.readPage(pg, in, p[done:done+want])
			if err != nil {
				return done, err
			}
			if k >= 0 {
				t.hits.Add(1)
				done += k
			}
			continue
		}
		k, err := f.fill(idx, min(last+ra, idx+int64(s.batchPages())-1), p[done:n], in)
		if err != nil {
			return done, err
		}
		done += k
	}
	return n, nil
}

// readPage copies from a page found in the cache; -1 means "look again"
// (the page went away or had to be completed first).
func (f *File) readPage(pg *Page, in int, dst []byte) (int, error) {
	pg.mu.RLock()
	if pg.gone {
		pg.mu.RUnlock()
		return -1, nil
	}
	if !pg.uptodate {
		pg.mu.RUnlock()
		return -1, f.complete(pg)
	}
	k := copy(dst, pg.data[in:])
	pg.mu.RUnlock()
	return k, nil
}

// complete reads the bytes of a partly written page that the cache does not
// hold, keeping the dirty ones.
func (f *File) complete(pg *Page) error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.gone || pg.uptodate {
		return nil
	}
	buf := f.c.s.getScratch()
	defer f.c.s.putScratch(buf)
	ps := f.pageSize()
	tmp := buf[:ps]
	n, err := f.bf.Pread(tmp, pg.idx*ps)
	if err != nil {
		return err
	}
	clear(tmp[n:])
	copy(pg.data[:pg.dlo], tmp[:pg.dlo])
	copy(pg.data[pg.dhi:], tmp[pg.dhi:])
	pg.uptodate = true
	f.c.t.misses.Add(1)
	return nil
}

// fill reads pages idx..maxIdx that are missing (stopping at the first one
// present) from the wrapped service in one call and copies the request's
// part, dst starting at byte in of page idx, out of them.
func (f *File) fill(idx, maxIdx int64, dst []byte, in int) (int, error) {
	s, t := f.c.s, f.c.t
	release := s.admit(t)
	defer release()
	first, created, err := s.getPage(t, f.ino, idx, true, true)
	if err != nil {
		return 0, f.err("pread", fs.Errno(err))
	}
	if !created {
		return 0, nil // someone else is filling it; read it next round
	}
	pages := []*Page{first}
	for j := idx + 1; j <= maxIdx; j++ {
		pg, created, _ := s.getPage(t, f.ino, j, true, false)
		if pg == nil || !created {
			break
		}
		pages = append(pages, pg)
	}
	ps := int(f.pageSize())
	var buf []byte
	if len(pages) == 1 {
		buf = first.data
	} else {
		buf = s.getScratch()
		defer s.putScratch(buf)
		buf = buf[:len(pages)*ps]
	}
	n, err := f.bf.Pread(buf, idx*int64(ps))
	if err != nil {
		s.mu.Lock()
		for _, pg := range pages {
			s.dropLocked(pg)
		}
		s.mu.Unlock()
		return 0, err
	}
	clear(buf[n:])
	copied := 0
	for i, pg := range pages {
		if len(pages) > 1 {
			copy(pg.data, buf[i*ps:(i+1)*ps])
		}
		pg.uptodate = true
		if copied < len(dst) {
			copied += copy(dst[copied:], pg.data[in:])
			in = 0
		}
		pg.mu.Unlock()
	}
	t.misses.Add(int64(len(pages)))
	return copied, nil
}

// readahead records a read of [off, off+n) and returns how many pages
// beyond the request to read if it continues a sequential stream: the
// window starts at two pages and doubles with every sequential read, up to
// Options.MaxReadahead.
func (f *File) readahead(off int64, n int) int64 {
	max := f.c.o.MaxReadahead
	if max < 0 {
		return 0
	}
	ps := f.pageSize()
	f.raMu.Lock()
	defer f.raMu.Unlock()
	f.raClock++
	end := off + int64(n)
	lru := 0
	for i := range f.streams {
		st := &f.streams[i]
		if st.used != 0 && st.next == off {
			st.window = min(max, maxI64(2*ps, 2*st.window))
			st.next, st.used = end, f.raClock
			return st.window / ps
		}
		if st.used < f.streams[lru].used {
			lru = i
		}
	}
	f.streams[lru] = stream{next: end, used: f.raClock}
	return 0
}

func maxI64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// ---- writes ----

// Pwrite writes into the cache (write-back) or through it.
func (f *File) Pwrite(p []byte, off int64) (int, error) {
	switch {
	case f.closed.Load():
		return 0, f.err("pwrite", syscall.EBADF)
	case off < 0:
		return 0, f.err("pwrite", syscall.EINVAL)
	case !f.writable:
		return 0, f.err("pwrite", syscall.EBADF)
	case len(p) == 0:
		return 0, nil
	}
	if f.appendMode {
		f.ino.mu.Lock()
		defer f.ino.mu.Unlock()
		off = f.ino.size.Load()
	}
	defer f.ino.lastWrite.Store(time.Now().UnixNano())
	switch {
	case f.direct:
		return f.writeDirect(p, off)
	case f.through:
		return f.writeThrough(p, off)
	}
	n, err := f.writeBack(p, off)
	if err != nil {
		return n, err
	}
	if err := f.c.throttle(); err != nil {
		return n, err
	}
	return n, nil
}

func (f *File) writeDirect(p []byte, off int64) (int, error) {
	s := f.c.s
	lo, hi := f.pageRange(off, len(p))
	if err := s.flushInode(f.ino, lo, hi+1); err != nil {
		return 0, err
	}
	n, err := f.bf.Pwrite(p, off)
	s.invalidate(f.ino, lo, hi+1)
	growSize(f.ino, off+int64(n))
	return n, err
}

// writeThrough writes to the wrapped service, after any older dirty bytes
// of the range, then updates the pages that hold the range.
func (f *File) writeThrough(p []byte, off int64) (int, error) {
	s := f.c.s
	lo, hi := f.pageRange(off, len(p))
	if err := s.flushInode(f.ino, lo, hi+1); err != nil {
		return 0, err
	}
	n, err := f.bf.Pwrite(p, off)
	if n > 0 {
		f.updatePages(p[:n], off)
		growSize(f.ino, off+int64(n))
	}
	return n, err
}

// updatePages copies written bytes into the cached pages of their range.
// Looking the pages up after the wrapped write guarantees that a page
// filled concurrently is either filled after the write or updated here.
func (f *File) updatePages(p []byte, off int64) {
	s, ps := f.c.s, f.pageSize()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, a := pos/ps, int(pos%ps)
		b := min(int(ps), a+len(p)-done)
		pg, _, _ := s.getPage(f.c.t, f.ino, idx, false, false)
		if pg != nil {
			pg.mu.Lock()
			switch {
			case pg.gone:
			case pg.uptodate:
				copy(pg.data[a:b], p[done:])
			default: // partly written page: only its dirty bytes are held
				if x, y := max(a, pg.dlo), min(b, pg.dhi); x < y {
					copy(pg.data[x:y], p[done+x-a:])
				}
			}
			pg.mu.Unlock()
		}
		done += b - a
	}
}

// writeBack copies p into pages and marks them dirty.
func (f *File) writeBack(p []byte, off int64) (int, error) {
	s, t, ps := f.c.s, f.c.t, f.pageSize()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, a := pos/ps, int(pos%ps)
		b := min(int(ps), a+len(p)-done)
		oldSize := f.ino.size.Load()
		pg, created, err := s.getPage(t, f.ino, idx, false, false)
		if err == nil && pg == nil {
			release := s.admit(t)
			pg, created, err = s.getPage(t, f.ino, idx, true, true)
			release()
		}
		if err != nil {
			return done, f.err("pwrite", fs.Errno(err))
		}
		if !created {
			pg.mu.Lock()
			if pg.gone {
				pg.mu.Unlock()
				continue
			}
		}
		src := p[done : done+b-a]
		start := idx * ps
		switch {
		case created:
			if start >= oldSize || a == 0 && (b == int(ps) || start+int64(b) >= oldSize) {
				// Nothing of the file is in the rest of the page.
				clear(pg.data[:a])
				clear(pg.data[b:])
				pg.uptodate = true
			}
			pg.dlo, pg.dhi = a, b
		case pg.uptodate:
			if pg.dirty() {
				pg.dlo, pg.dhi = min(pg.dlo, a), max(pg.dhi, b)
			} else {
				pg.dlo, pg.dhi = a, b
			}
		case a <= pg.dhi && b >= pg.dlo:
			pg.dlo, pg.dhi = min(pg.dlo, a), max(pg.dhi, b)
			if pg.dlo == 0 && pg.dhi == int(ps) {
				pg.uptodate = true
			}
		case a == 0 && b == int(ps):
			pg.dlo, pg.dhi, pg.uptodate = 0, int(ps), true
		default:
			// A second, disjoint range of a page the cache holds only
			// partly: write the first range back, then keep the new one.
			if err := s.writebackLocked(pg); err != nil {
				pg.mu.Unlock()
				return done, err
			}
			pg.dlo, pg.dhi = a, b
		}
		copy(pg.data[a:b], src)
		// Grow the size before a flusher can lock the page: write-back
		// clips dirty ranges at the size (for truncates) and would mark
		// the new bytes clean without writing them.
		growSize(f.ino, pos+int64(b-a))
		s.mu.Lock()
		s.markDirtyLocked(pg, t)
		s.mu.Unlock()
		pg.mu.Unlock()
		done += b - a
	}
	return len(p), nil
}

// ---- the rest of fs.File ----

// Stat returns the wrapped file's attributes corrected by the cache's
// logical size (and times of unwritten data).
func (f *File) Stat() (fs.Stat, error) {
	if f.closed.Load() {
		return fs.Stat{}, f.err("fstat", syscall.EBADF)
	}
	st, err := f.bf.Stat()
	if err != nil {
		return st, err
	}
	return f.c.overlayInode(st, f.ino), nil
}

// Truncate sets the size; see Shared.truncate for the order of steps.
func (f *File) Truncate(size int64) error {
	switch {
	case f.closed.Load():
		return f.err("ftruncate", syscall.EBADF)
	case size < 0:
		return f.err("ftruncate", syscall.EINVAL)
	case !f.writable:
		return f.bf.Truncate(size) // the wrapped service's errno (EINVAL/EBADF)
	}
	defer f.c.bump()
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	return f.c.s.truncate(f.ino, size, func() error { return f.bf.Truncate(size) })
}

// Sync writes every dirty page of the file back, then syncs the wrapped
// file: when it returns, the data is in the wrapped service and durable as
// far as that service's Sync makes it.
func (f *File) Sync(datasync bool) error {
	if f.closed.Load() {
		return f.err("fsync", syscall.EBADF)
	}
	if err := f.c.s.flushInode(f.ino, 0, -1); err != nil {
		return f.err("fsync", fs.Errno(err))
	}
	return f.bf.Sync(datasync)
}

// Allocate writes dirty pages back, forwards the call and drops the file's
// pages (a punched hole must read as zeros).
func (f *File) Allocate(mode uint32, off, length int64) error {
	if f.closed.Load() {
		return f.err("fallocate", syscall.EBADF)
	}
	defer f.c.bump()
	s := f.c.s
	f.ino.mu.Lock()
	defer f.ino.mu.Unlock()
	if err := s.flushInode(f.ino, 0, -1); err != nil {
		return err
	}
	s.invalidate(f.ino, 0, -1)
	err := f.bf.Allocate(mode, off, length)
	s.invalidate(f.ino, 0, -1)
	if st, serr := f.bf.Stat(); serr == nil {
		f.ino.size.Store(st.Size)
	}
	return err
}

// Close writes the file's dirty pages back (close-to-open: another client
// that opens the file afterwards sees the data) and releases the handle.
// It does not sync the wrapped service.
func (f *File) Close() error {
	if f.closed.Swap(true) {
		return f.err("close", syscall.EBADF)
	}
	s := f.c.s
	var first error
	var w *File
	var stamp *attrStamp
	if f.writable {
		w = f
		first = s.flushInode(f.ino, 0, -1)
		if st, err := f.bf.Stat(); err == nil {
			a := stampOf(st)
			stamp = &a
		}
	}
	if f.writable {
		// Cached attributes predate this handle's writes, which the
		// overlay covers only while the handle is open: invalidate them
		// before closeInode ends the overlay, or a stat in between gets
		// the wrapped service's size from before the flush.
		f.c.bump()
	}
	s.closeInode(f.ino, w, stamp)
	if closedHook != nil {
		closedHook()
	}
	if f.writable {
		f.useMu.Lock() // wait for write-backs through bf by others
		defer f.useMu.Unlock()
	}
	if err := f.bf.Close(); err != nil && first == nil {
		first = err
	}
	return first
}

// closedHook, set by tests, runs in Close right after the handle is
// released from its inode.
var closedHook func()

// CopyFileRange flushes the source range, forwards the copy to the wrapped
// handles and drops the destination's pages of the range.
func (f *cfrFile) CopyFileRange(srcOff int64, dst fs.File, dstOff int64, n int64) (int64, error) {
	if f.closed.Load() {
		return 0, f.err("copy_file_range", syscall.EBADF)
	}
	if srcOff < 0 || dstOff < 0 || n < 0 {
		return 0, f.err("copy_file_range", syscall.EINVAL)
	}
	s, ps := f.c.s, f.pageSize()
	if err := s.flushInode(f.ino, srcOff/ps, (srcOff+n)/ps+1); err != nil {
		return 0, err
	}
	var d *File
	switch x := dst.(type) {
	case *cfrFile:
		d = x.File
	case *File:
		d = x
	}
	if d == nil {
		return f.bf.(fs.CopyFileRanger).CopyFileRange(srcOff, dst, dstOff, n)
	}
	if d.closed.Load() || !d.writable {
		return 0, d.err("copy_file_range", syscall.EBADF)
	}
	d.ino.mu.Lock()
	defer d.ino.mu.Unlock()
	lo, hi := dstOff/ps, (dstOff+n)/ps+1
	if err := s.flushInode(d.ino, lo, hi); err != nil {
		return 0, err
	}
	copied, err := f.bf.(fs.CopyFileRanger).CopyFileRange(srcOff, d.bf, dstOff, n)
	d.c.s.invalidate(d.ino, lo, hi)
	growSize(d.ino, dstOff+copied)
	return copied, err
}

// ---- scratch buffers for multi-page fills ----

// batchPages is the most pages one fill reads (1 MiB worth, at least 1).
func (s *Shared) batchPages() int { return max(1, (1<<20)/s.pageSize) }

var scratchPools sync.Map // page size -> *sync.Pool of aligned buffers

func (s *Shared) getScratch() []byte {
	size := s.batchPages() * s.pageSize
	pl, _ := scratchPools.LoadOrStore(size, &sync.Pool{New: func() any { b := alignedChunk(size); return &b }})
	return *(pl.(*sync.Pool).Get().(*[]byte))
}

func (s *Shared) putScratch(b []byte) {
	size := s.batchPages() * s.pageSize
	b = b[:size]
	if pl, ok := scratchPools.Load(size); ok {
		pl.(*sync.Pool).Put(&b)
	}
}
