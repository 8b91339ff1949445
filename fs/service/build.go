package service

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"polytropon/fs"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// LayerBuilder builds a layer of a registered type. below is the service the
// layer wraps (the rest of the stack), nil for the bottom layer.
type LayerBuilder func(l Layer, below fs.Service) (fs.Service, error)

var (
	layersMu sync.Mutex
	layers   = map[string]LayerBuilder{}
)

// RegisterLayer adds a layer type (a cache, for instance); for init
// functions only, panics on duplicates and on the built-in names.
func RegisterLayer(typ string, b LayerBuilder) {
	layersMu.Lock()
	defer layersMu.Unlock()
	if _, dup := layers[typ]; dup || typ == "local" || typ == "union" {
		panic("service: layer type registered twice: " + typ)
	}
	layers[typ] = b
}

func lookupLayer(typ string) (LayerBuilder, bool) {
	layersMu.Lock()
	defer layersMu.Unlock()
	b, ok := layers[typ]
	return b, ok
}

func registeredLayerNames() string {
	layersMu.Lock()
	defer layersMu.Unlock()
	var names []string
	for n := range layers {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		return ""
	}
	return ", " + strings.Join(names, ", ")
}

// sharedSet holds the libservices built once and reused by reference.
type sharedSet struct {
	mu   sync.Mutex
	svcs map[string]sharedSvc
}

type sharedSvc struct {
	svc  fs.Service
	spec string // what it was built from, to reject conflicting reuse
	refs int
}

// stackBuild collects what building one instance created, so it can be
// released when the instance goes.
type stackBuild struct {
	owned  []fs.Service // built for this instance, closed with it
	shared []string     // names of shared services referenced
}

// build builds a stack (top first).
func (s *sharedSet) build(stack []Layer, sb *stackBuild) (fs.Service, error) {
	if len(stack) == 0 {
		return nil, fmt.Errorf("%w: empty stack", ErrConfig)
	}
	top := stack[0]
	var below fs.Service
	if len(stack) > 1 {
		if top.Type == "local" || top.Type == "union" {
			return nil, fmt.Errorf("%w: a %s layer cannot sit on top of other layers", ErrConfig, top.Type)
		}
		var err error
		if below, err = s.build(stack[1:], sb); err != nil {
			return nil, err
		}
	}
	return s.layer(top, below, sb)
}

func (s *sharedSet) layer(l Layer, below fs.Service, sb *stackBuild) (fs.Service, error) {
	if l.Shared != "" {
		spec := fmt.Sprintf("%#v", l)
		s.mu.Lock()
		if sh, ok := s.svcs[l.Shared]; ok {
			if sh.spec != spec {
				s.mu.Unlock()
				return nil, fmt.Errorf("%w: shared libservice %q is reused with a different definition", ErrConfig, l.Shared)
			}
			sh.refs++
			s.svcs[l.Shared] = sh
			s.mu.Unlock()
			sb.shared = append(sb.shared, l.Shared)
			return sh.svc, nil
		}
		s.mu.Unlock()
		var inner stackBuild
		svc, err := s.make(l, below, &inner)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		if s.svcs == nil {
			s.svcs = map[string]sharedSvc{}
		}
		s.svcs[l.Shared] = sharedSvc{svc: svc, spec: spec, refs: 1}
		s.mu.Unlock()
		sb.shared = append(sb.shared, l.Shared)
		return svc, nil
	}
	svc, err := s.make(l, below, sb)
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// make builds one layer; what it builds is recorded in sb.owned.
func (s *sharedSet) make(l Layer, below fs.Service, sb *stackBuild) (fs.Service, error) {
	var svc fs.Service
	var err error
	switch l.Type {
	case "local":
		var opts []local.Option
		if l.ReadOnly {
			opts = append(opts, local.WithReadOnly())
		}
		if l.ODirect {
			opts = append(opts, local.WithODirect())
		}
		svc, err = local.New(l.Dir, opts...)
	case "union":
		branches := make([]fs.Service, 0, len(l.Branches))
		for _, b := range l.Branches {
			bs, berr := s.layer(b, nil, sb)
			if berr != nil {
				return nil, berr
			}
			branches = append(branches, bs)
		}
		svc, err = union.New(branches)
	default:
		b, ok := lookupLayer(l.Type)
		if !ok {
			return nil, fmt.Errorf("%w: unknown layer type %q", ErrConfig, l.Type)
		}
		svc, err = b(l, below)
	}
	if err != nil {
		return nil, fmt.Errorf("service: building %s layer: %w", l.Type, err)
	}
	if l.Shared == "" {
		sb.owned = append(sb.owned, svc)
	}
	return svc, nil
}

// release closes what an instance owned and drops its shared references.
func (s *sharedSet) release(sb *stackBuild) {
	for i := len(sb.owned) - 1; i >= 0; i-- {
		sb.owned[i].Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, name := range sb.shared {
		sh := s.svcs[name]
		if sh.refs--; sh.refs <= 0 {
			sh.svc.Close()
			delete(s.svcs, name)
		} else {
			s.svcs[name] = sh
		}
	}
}
