// Package stack builds filesystem instances from stacks of libservices
// described as data: the layers of a service instance's configuration
// (fs/service), of a MOUNT request, and of `polytropon mount` alike.
//
//	stack = [{type = "cache", cache = {capacity = "256MiB"}},
//	         {type = "union", branches = [
//	             {type = "local", dir = "/srv/upper", odirect = true},
//	             {type = "local", dir = "/srv/image", readonly = true, shared = "image"}]}]
//
// Layer types (top first; each wraps the layers below it):
//
//	local   Dir (host directory, fs/local), ReadOnly, ODirect; a bottom layer
//	union   Branches (top first; the top one is writable; fs/union); a bottom layer
//	cache   the client cache (fs/cache) over the rest of the stack, with
//	        its settings in Cache (CacheOptions, cache.go); as a union
//	        branch, over the stack in Over (the client cache inside the
//	        backend client, below the union: a shared image cached once)
//	cephfs  a CephFS client (fs/cephfs) rooted at Dir, with its settings in
//	        CephFS (CephFSOptions, ceph.go); a bottom layer
//
// Settings are typed: a layer decoded from TOML strictly (the service's
// configuration) rejects a key its type does not have, and sizes and
// durations are units.Size and Duration values.
//
// A Builder builds stacks and keeps what they share: a layer with Shared
// set is built once and reused by reference by every layer of that name
// (the clones' read-only image, cached once), and cache tenants of one
// named pool share that pool. A built Stack releases what it holds when it
// is closed.
//
// Lock order: Builder.mu is a leaf.
package stack

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"sync"

	"polytropon/fs"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// ErrConfig marks an invalid layer.
var ErrConfig = errors.New("stack: bad layer")

// Layer types.
const (
	Local  = "local"
	Union  = "union"
	Cache  = "cache"
	CephFS = "cephfs"
)

// Layer is one libservice of a stack; see the package comment for the
// types and their fields.
type Layer struct {
	Type     string  `toml:"type"`
	Dir      string  `toml:"dir"`
	ReadOnly bool    `toml:"readonly"`
	ODirect  bool    `toml:"odirect"` // local: data I/O with O_DIRECT (no kernel page cache)
	Shared   string  `toml:"shared"`
	Branches []Layer `toml:"branches"`
	// Over is the stack a cache layer wraps when nothing is below it in
	// its own stack: a union branch (top first).
	Over []Layer `toml:"over,omitempty"`
	// Cache are the settings of a cache layer (nil: the defaults).
	Cache *CacheOptions `toml:"cache,omitempty"`
	// CephFS are the settings of a cephfs layer (required there).
	CephFS *CephFSOptions `toml:"cephfs,omitempty"`
}

// Validate checks a layer and its branches without building anything.
func (l *Layer) Validate() error {
	switch {
	case l.ODirect && l.Type != Local:
		return fmt.Errorf("%s layer: odirect applies to local layers only", l.Type)
	case l.Cache != nil && l.Type != Cache:
		return fmt.Errorf("%s layer: cache settings apply to cache layers only", l.Type)
	case l.CephFS != nil && l.Type != CephFS:
		return fmt.Errorf("%s layer: cephfs settings apply to cephfs layers only", l.Type)
	case len(l.Over) > 0 && l.Type != Cache:
		return fmt.Errorf("%s layer: over applies to cache layers only", l.Type)
	}
	for i, o := range l.Over {
		if err := o.Validate(); err != nil {
			return fmt.Errorf("over[%d]: %v", i, err)
		}
	}
	switch l.Type {
	case Local:
		if !path.IsAbs(l.Dir) {
			return fmt.Errorf("local layer needs an absolute dir, got %q", l.Dir)
		}
		if len(l.Branches) > 0 {
			return fmt.Errorf("local layer has branches")
		}
	case Union:
		if len(l.Branches) == 0 {
			return fmt.Errorf("union layer without branches")
		}
		for i, b := range l.Branches {
			if err := b.Validate(); err != nil {
				return fmt.Errorf("branch %d: %v", i, err)
			}
		}
	case Cache:
		if l.Cache != nil {
			return l.Cache.Validate()
		}
	case CephFS:
		if l.CephFS == nil {
			return fmt.Errorf("cephfs layer: cephfs.conf (a ceph.conf path) is required")
		}
		return l.CephFS.Validate()
	case "":
		return fmt.Errorf("layer without a type")
	default:
		return fmt.Errorf("unknown layer type %q (have local, union, cache, cephfs)", l.Type)
	}
	return nil
}

// Builder builds stacks; its zero value is ready. Safe for concurrent use.
type Builder struct {
	mu    sync.Mutex
	svcs  map[string]sharedSvc  // by Layer.Shared
	pools map[string]*namedPool // cache pools by name (cache.go)
}

type sharedSvc struct {
	svc   fs.Service
	inner *Stack // what was built below it (a cache layer's over)
	spec  string // what it was built from, to reject conflicting reuse
	refs  int
}

// Stack is one built stack. Close releases what it owns and its
// references to shared libservices.
type Stack struct {
	// Service is the top of the stack.
	Service fs.Service
	b       *Builder
	owned   []fs.Service // closed top first (reverse build order)
	shared  []string
}

// Own returns a stack made of services built elsewhere (top first), which
// Close closes in that order.
func Own(top fs.Service, below ...fs.Service) *Stack {
	s := &Stack{Service: top}
	for i := len(below) - 1; i >= 0; i-- {
		s.owned = append(s.owned, below[i])
	}
	s.owned = append(s.owned, top)
	return s
}

// Under returns the stack of top over s, which it takes over: its Close
// closes top, then what s holds.
func (s *Stack) Under(top fs.Service) *Stack {
	return &Stack{Service: top, b: s.b, owned: append(s.owned, top), shared: s.shared}
}

// Build builds a stack (top first). On error nothing it built is left
// open.
func (b *Builder) Build(layers []Layer) (*Stack, error) {
	st := &Stack{b: b}
	svc, err := b.build(layers, st)
	if err != nil {
		st.Close()
		return nil, err
	}
	st.Service = svc
	return st, nil
}

func (b *Builder) build(stack []Layer, st *Stack) (fs.Service, error) {
	if len(stack) == 0 {
		return nil, fmt.Errorf("%w: empty stack", ErrConfig)
	}
	top := stack[0]
	var below fs.Service
	if len(stack) > 1 {
		if top.Type == Local || top.Type == Union || top.Type == CephFS {
			return nil, fmt.Errorf("%w: a %s layer cannot sit on top of other layers", ErrConfig, top.Type)
		}
		if len(top.Over) > 0 {
			return nil, fmt.Errorf("%w: a %s layer with over cannot sit on top of other layers", ErrConfig, top.Type)
		}
		var err error
		if below, err = b.build(stack[1:], st); err != nil {
			return nil, err
		}
	}
	return b.layer(top, below, st)
}

func (b *Builder) layer(l Layer, below fs.Service, st *Stack) (fs.Service, error) {
	if l.Shared == "" {
		return b.make(l, below, st)
	}
	spec, err := json.Marshal(l) // follows the settings' pointers; map keys sorted
	if err != nil {
		return nil, fmt.Errorf("%w: shared libservice %q: %v", ErrConfig, l.Shared, err)
	}
	b.mu.Lock()
	if sh, ok := b.svcs[l.Shared]; ok {
		defer b.mu.Unlock()
		if sh.spec != string(spec) {
			return nil, fmt.Errorf("%w: shared libservice %q is reused with a different definition", ErrConfig, l.Shared)
		}
		sh.refs++
		b.svcs[l.Shared] = sh
		st.shared = append(st.shared, l.Shared)
		return sh.svc, nil
	}
	b.mu.Unlock()
	inner := &Stack{b: b}
	svc, err := b.make(l, below, inner)
	if err != nil {
		inner.Close()
		return nil, err
	}
	b.mu.Lock()
	if b.svcs == nil {
		b.svcs = map[string]sharedSvc{}
	}
	b.svcs[l.Shared] = sharedSvc{svc: svc, inner: inner, spec: string(spec), refs: 1}
	b.mu.Unlock()
	st.shared = append(st.shared, l.Shared)
	return svc, nil
}

// make builds one layer; what it builds is recorded in st.owned.
func (b *Builder) make(l Layer, below fs.Service, st *Stack) (fs.Service, error) {
	var svc fs.Service
	var err error
	switch l.Type {
	case Local:
		var opts []local.Option
		if l.ReadOnly {
			opts = append(opts, local.WithReadOnly())
		}
		if l.ODirect {
			opts = append(opts, local.WithODirect())
		}
		svc, err = local.New(l.Dir, opts...)
	case Union:
		branches := make([]fs.Service, 0, len(l.Branches))
		for i, br := range l.Branches {
			bs, berr := b.layer(br, nil, st)
			if berr != nil {
				role := "read-only lower branch"
				if i == 0 {
					role = "writable upper branch"
				}
				return nil, fmt.Errorf("union branch %d (%s): %w", i, role, berr)
			}
			branches = append(branches, bs)
		}
		svc, err = union.New(branches)
	case Cache:
		if below == nil && len(l.Over) > 0 {
			if below, err = b.build(l.Over, st); err != nil {
				return nil, fmt.Errorf("cache layer over: %w", err)
			}
		}
		svc, err = b.buildCache(l, below)
	case CephFS:
		svc, err = buildCephFS(l, below)
	default:
		return nil, fmt.Errorf("%w: unknown layer type %q", ErrConfig, l.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("stack: building %s layer: %w", l.Type, err)
	}
	if l.Shared == "" {
		st.owned = append(st.owned, svc)
	}
	return svc, nil
}

// Close closes what the stack owns, top first, and drops its shared
// references; a shared libservice closes with its last reference.
func (s *Stack) Close() error {
	var errs []error
	for i := len(s.owned) - 1; i >= 0; i-- {
		errs = append(errs, s.owned[i].Close())
	}
	s.owned = nil
	var last []sharedSvc // closed outside the lock: an inner stack takes it
	if s.b != nil && len(s.shared) > 0 {
		s.b.mu.Lock()
		for _, name := range s.shared {
			sh := s.b.svcs[name]
			if sh.refs--; sh.refs <= 0 {
				last = append(last, sh)
				delete(s.b.svcs, name)
			} else {
				s.b.svcs[name] = sh
			}
		}
		s.b.mu.Unlock()
	}
	s.shared = nil
	for _, sh := range last {
		errs = append(errs, sh.svc.Close())
		if sh.inner != nil {
			errs = append(errs, sh.inner.Close())
		}
	}
	return errors.Join(errs...)
}

// LocalStack describes a stack over host directories: a local layer over
// dir when lowers is empty, else a union of dir (writable) over lowers
// (read-only, top to bottom). It is what `polytropon mount` serves.
func LocalStack(dir string, lowers ...string) []Layer {
	top := Layer{Type: Local, Dir: dir}
	if len(lowers) == 0 {
		return []Layer{top}
	}
	u := Layer{Type: Union, Branches: []Layer{top}}
	for _, l := range lowers {
		u.Branches = append(u.Branches, Layer{Type: Local, Dir: l, ReadOnly: true})
	}
	return []Layer{u}
}
