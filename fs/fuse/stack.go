package fuse

import (
	"errors"
	"fmt"

	"polytropon/fs"
	"polytropon/fs/local"
	"polytropon/fs/union"
)

// Stack is a libservice stack over host directories: a local service over
// one directory, or a union whose writable branch is a local service and
// whose lower branches are read-only local services. Close releases every
// layer.
type Stack struct {
	// Service is the top of the stack, to serve or mount.
	Service fs.Service
	// layers are closed in order by Close: top first.
	layers []fs.Service
}

// BuildLocalStack builds the stack `polytropon mount` serves: a local
// service over dir when lowers is empty, else a union of dir (writable,
// private) over lowers (read-only, top to bottom; they may be shared with
// other stacks).
func BuildLocalStack(dir string, lowers ...string) (*Stack, error) {
	if dir == "" {
		return nil, errors.New("fuse: stack: empty upper directory")
	}
	top, err := local.New(dir)
	if err != nil {
		return nil, fmt.Errorf("fuse: stack: upper branch: %w", err)
	}
	s := &Stack{Service: top, layers: []fs.Service{top}}
	if len(lowers) == 0 {
		return s, nil
	}
	branches := []fs.Service{top}
	for _, l := range lowers {
		lo, err := local.New(l, local.WithReadOnly())
		if err != nil {
			_ = s.Close() // report the cause, not the cleanup
			return nil, fmt.Errorf("fuse: stack: lower branch: %w", err)
		}
		s.layers = append(s.layers, lo)
		branches = append(branches, lo)
	}
	u, err := union.New(branches)
	if err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("fuse: stack: union: %w", err)
	}
	s.Service = u
	s.layers = append([]fs.Service{u}, s.layers...)
	return s, nil
}

// Close closes every layer, top first.
func (s *Stack) Close() error {
	var errs []error
	for _, l := range s.layers {
		if err := l.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.layers = nil
	return errors.Join(errs...)
}
