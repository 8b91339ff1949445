package cache

import (
	"fmt"
	"sync/atomic"

	"polytropon/internal/registry"
)

// Policy orders the pages of a pool for reclamation. The pool calls every
// method with its lock held, so a Policy needs no locking of its own and must
// not call back into the pool.
type Policy interface {
	// Added is called when p enters the cache, charged to p.Owner().
	Added(p *Page)
	// Accessed is called on every cache hit of p.
	Accessed(p *Page)
	// Removed is called when p leaves the cache (reclaimed, invalidated,
	// truncated away).
	Removed(p *Page)
	// Reclaim returns a victim for an allocation by tenant t: the first
	// page in the policy's reclamation order for which ok returns true
	// (ok rejects pages that are dirty or busy), or nil. The pool then
	// removes the victim (and calls Removed).
	Reclaim(t *Tenant, ok func(*Page) bool) *Page
	// WeightAware reports whether the pool should order its allocation
	// queue by tenant weight (else first come, first served).
	WeightAware() bool
}

// PoolInfo is what a policy may read about its pool (under the pool lock).
type PoolInfo interface {
	// Frames is the pool's capacity in pages.
	Frames() int
	// Tenants lists the pool's open tenants.
	Tenants() []*Tenant
}

// PolicyFactory builds a policy for a pool.
type PolicyFactory func(PoolInfo) Policy

// policies are the registered eviction policies.
var policies = registry.New[PolicyFactory]("cache", "policy")

// RegisterPolicy adds an eviction policy under name; for init functions
// (panics on duplicates).
func RegisterPolicy(name string, f PolicyFactory) { policies.Register(name, f) }

// Policies lists the registered eviction policies.
func Policies() []string { return policies.Names() }

func newPolicy(name string, info PoolInfo) (Policy, error) {
	f, err := policies.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	return f(info), nil
}

// Tenant is the pool's accounting record of one tenant: its weight and the
// pages it owns. Policies read it under the pool lock.
type Tenant struct {
	name   string
	weight int
	id     int

	// Guarded by Shared.mu.
	pages                int // pages owned
	capPages             int // owner cap
	dirty                int // dirty pages whose dirtier is this tenant
	dirtyHead, dirtyTail *Page
	closed               bool

	hits, misses, writebacks atomic.Int64
}

// Name is the tenant's name.
func (t *Tenant) Name() string { return t.name }

// Weight is the tenant's declared weight.
func (t *Tenant) Weight() int { return t.weight }

// Pages is the number of pages the tenant owns (call under the pool lock,
// i.e. from a Policy method).
func (t *Tenant) Pages() int { return t.pages }

// list is an intrusive doubly linked list of pages (policy links).
type list struct {
	head, tail *Page // head = most recent
	n          int
}

func (l *list) pushFront(p *Page) {
	p.prev, p.next = nil, l.head
	if l.head != nil {
		l.head.prev = p
	} else {
		l.tail = p
	}
	l.head = p
	l.n++
}

func (l *list) remove(p *Page) {
	if p.prev != nil {
		p.prev.next = p.next
	} else {
		l.head = p.next
	}
	if p.next != nil {
		p.next.prev = p.prev
	} else {
		l.tail = p.prev
	}
	p.prev, p.next = nil, nil
	l.n--
}

func (l *list) moveToFront(p *Page) {
	if l.head == p {
		return
	}
	l.remove(p)
	l.pushFront(p)
}

// scan returns the first page from the cold end (tail) accepted by ok.
func (l *list) scan(ok func(*Page) bool) *Page {
	for p := l.tail; p != nil; {
		prev := p.prev
		if ok(p) {
			return p
		}
		p = prev
	}
	return nil
}
