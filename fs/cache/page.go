package cache

import (
	"sync"
	"time"
)

// Page is one cached page of a file. Its content is guarded by its own lock;
// its place in the pool (owner, lists) by the pool lock.
type Page struct {
	// mu guards the fields up to the blank line. Fillers and writers hold
	// it for writing, readers for reading; write-back holds it for writing
	// across the call to the wrapped service, so a Sync that finds a page
	// being written back waits for that write to land.
	mu       sync.RWMutex
	data     []byte
	uptodate bool // data holds the file's bytes (zeros past EOF)
	dlo, dhi int  // dirty byte range [dlo, dhi); empty when clean
	gone     bool // evicted or invalidated; look the page up again

	// Guarded by Shared.mu.
	ino        *inode
	idx        int64
	owner      *Tenant
	dirtier    *Tenant // non-nil while on dirtier's dirty list
	dirtySince time.Time
	dprev      *Page
	dnext      *Page

	// Policy links, guarded by Shared.mu.
	prev, next *Page
	list       uint8
	ref        bool
	stamp      uint64
}

const (
	listNone uint8 = iota
	listInactive
	listActive
)

// Owner is the tenant charged for the page.
func (p *Page) Owner() *Tenant { return p.owner }

// Index is the page's index in its file.
func (p *Page) Index() int64 { return p.idx }

// Dirty reports whether the page has bytes not yet written back (under the
// pool lock).
func (p *Page) Dirty() bool { return p.dirtier != nil }

func (p *Page) dirty() bool { return p.dlo < p.dhi }
