// Package registry is the one name -> value table behind every plug-in
// point of the project: queue designs, copy methods, cache policies,
// workloads, systems and their openers, metric collectors. Each package
// keeps one Registry of its kind; its init functions register, everything
// else looks up. Registering twice is a programming error and panics;
// looking up an unknown name is an error that lists the known ones.
package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
)

// ErrUnknown marks a lookup of a name nobody registered.
var ErrUnknown = errors.New("unknown name")

// Registry maps names to values of one kind. Safe for concurrent use.
type Registry[T any] struct {
	prefix, kind string // "queue", "design": messages read "queue: unknown design ..."

	mu sync.RWMutex
	m  map[string]T
}

// New returns an empty registry whose messages start with prefix (the
// package name) and call its entries kind.
func New[T any](prefix, kind string) *Registry[T] {
	return &Registry[T]{prefix: prefix, kind: kind, m: map[string]T{}}
}

// Register adds v under name; for init functions only. It panics on an
// empty or duplicate name.
func (r *Registry[T]) Register(name string, v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(fmt.Sprintf("%s: %s registered without a name", r.prefix, r.kind))
	}
	if _, dup := r.m[name]; dup {
		panic(fmt.Sprintf("%s: %s registered twice: %s", r.prefix, r.kind, name))
	}
	r.m[name] = v
}

// Lookup returns the value registered under name, or an error wrapping
// ErrUnknown that lists the registered names.
func (r *Registry[T]) Lookup(name string) (T, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	v, ok := r.m[name]
	if !ok {
		return v, unknownError(fmt.Sprintf("%s: unknown %s %q (have %v)", r.prefix, r.kind, name, slices.Sorted(maps.Keys(r.m))))
	}
	return v, nil
}

// unknownError reads "queue: unknown design "x" (have [a b])" and is
// ErrUnknown.
type unknownError string

func (e unknownError) Error() string { return string(e) }
func (e unknownError) Unwrap() error { return ErrUnknown }

// Names lists the registered names, sorted.
func (r *Registry[T]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return slices.Sorted(maps.Keys(r.m))
}

// Values lists the registered values in name order.
func (r *Registry[T]) Values() []T {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]T, 0, len(r.m))
	for _, n := range slices.Sorted(maps.Keys(r.m)) {
		out = append(out, r.m[n])
	}
	return out
}
