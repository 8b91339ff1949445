// Package copy holds the data-transfer methods of the user-level I/O path,
// registered by name so that the bake-off (package ipc/bench) and the tests
// can iterate over all of them:
//
//   - plain: Go's copy, one copy in one address space; the reference.
//   - SMC: shared-memory copy, the way the front and back drivers move data:
//     source -> shared staging buffer -> target with plain copies (two copies).
//   - SMO: SMC with the papers' pipelined copy routine (NonTemporal): a
//     one-time non-temporal prefetch of 10 cache lines, then per step a
//     prefetch 2 lines further and non-temporal stores of 2 lines, and an
//     SFENCE at the end (two copies, neither pollutes the cache).
//   - CMA: cross-memory attach, process_vm_readv from another address space
//     (one copy, done by the kernel, no staging buffer).
//
// Every method copies any length at any alignment; the vector routine only
// runs on the aligned middle of a buffer, head and tail use plain copies.
//
// Importers usually rename the package (import xcopy "polytropon/ipc/copy")
// so that it does not shadow the builtin copy.
package copy

import (
	"errors"

	"polytropon/internal/registry"
)

// Method moves bytes from src to dst.
type Method interface {
	// Copy copies min(len(dst), len(src)) bytes from src to dst and
	// returns that count, like the builtin copy. dst and src must not
	// overlap.
	Copy(dst, src []byte) (int, error)
}

// Options configures a method instance.
type Options struct {
	// Staging is the shared buffer SMC and SMO pass the data through
	// (normally a System V segment); transfers longer than it go in
	// chunks of len(Staging). Required by SMC and SMO.
	Staging []byte
	// Pid is the process CMA reads from: Copy(dst, src) reads len(src)
	// bytes at src's address in process Pid. 0 means the own process.
	Pid int
}

// Spec describes a registered method.
type Spec struct {
	Name string
	// Copies is how many times each byte is copied (1 or 2).
	Copies int
	// NeedsStaging reports that New requires Options.Staging.
	NeedsStaging bool
	// Stage is the routine each side of a staged method runs (the front
	// driver into the staging buffer, the back driver out of it), so that
	// the two sides can run in two processes; nil for unstaged methods.
	Stage func(dst, src []byte) int
	New   func(opts Options) (Method, error)
}

var (
	// ErrNoStaging is returned by New of a staging method without a buffer.
	ErrNoStaging = errors.New("copy: method needs a staging buffer (Options.Staging)")
	// ErrShort is returned when the kernel moved fewer bytes than asked.
	ErrShort = errors.New("copy: short cross-memory transfer")
)

// methods are the registered copy methods.
var methods = registry.New[Spec]("copy", "method")

// Register adds a method; for init functions, panics on a duplicate.
func Register(s Spec) { methods.Register(s.Name, s) }

// Lookup returns the named method.
func Lookup(name string) (Spec, error) { return methods.Lookup(name) }

// Specs returns every registered method, sorted by name.
func Specs() []Spec { return methods.Values() }

// New builds an instance of the named method.
func New(name string, opts Options) (Method, error) {
	s, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return s.New(opts)
}
