// Package fstest is the conformance suite of the libservice API (package fs).
// Every Service implementation (local, union, cephfs, cache, the IPC client,
// a FUSE mount seen through fs/local) runs the same named cases:
//
//	func TestConformance(t *testing.T) { fstest.Run(t, newLocal) }
//	func TestEscape(t *testing.T)      { fstest.RunEscape(t, newLocalWithOutside) }
//	func BenchmarkOps(b *testing.B)    { fstest.Bench(b, newLocalWithHostDir) }
//
// Run checks POSIX behaviour of every call of the API (errno included), on a
// fresh service per case. RunEscape checks that nothing the tenant can name
// reaches a host directory outside the service root. Bench compares each
// operation against the same operation done with plain system calls on a host
// directory, in the same run, so results are ratios rather than absolute
// numbers.
//
// A service that cannot honestly support some behaviour declares it with an
// Option (NoHardlinks, NoXattrs, ...); the suite then skips exactly the cases
// that need it and says why. Nothing else is skipped. A reference that is
// known to behave otherwise in a case (KernelCephFS, Differs) is not
// skipped there: the suite asserts what it does instead.
package fstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"polytropon/fs"
)

// Option declares a limitation of the service under test.
type Option func(*config)

// feature names a behaviour that some cases need and an Option can withdraw.
type feature string

const (
	featHardlinks    feature = "hardlinks"
	featXattrs       feature = "xattrs"
	featChown        feature = "chown"
	featODirect      feature = "odirect"
	featUnlinkedOpen feature = "unlinked-open"
	featSparse       feature = "sparse"
	featLargeFiles   feature = "large-files"
	featFallocate    feature = "fallocate"
)

type config struct {
	missing   map[feature]string    // feature -> reason it is missing
	skipCases map[string]string     // case name -> reason
	differs   map[string]difference // case name -> what is asserted instead
}

// difference is a case in which the service under test is known to differ:
// check asserts its own behaviour in place of the case's.
type difference struct {
	how   string
	check func(t *testing.T, s fs.Service)
}

func newConfig(opts []Option) *config {
	c := &config{missing: map[feature]string{}, skipCases: map[string]string{}, differs: map[string]difference{}}
	for _, o := range opts {
		o(c)
	}
	return c
}

func withoutFeature(f feature, reason string) Option {
	return func(c *config) { c.missing[f] = reason }
}

// NoHardlinks declares that Link is not supported.
func NoHardlinks() Option {
	return withoutFeature(featHardlinks, "service declares NoHardlinks")
}

// NoXattrs declares that the service has no extended attributes even though
// it may implement fs.Xattrer (a service that does not implement it is
// detected without this option).
func NoXattrs() Option { return withoutFeature(featXattrs, "service declares NoXattrs") }

// NoChown declares that the service cannot change ownership (for example it
// does not run as root).
func NoChown() Option { return withoutFeature(featChown, "service declares NoChown (not root)") }

// NoODirect declares that files cannot be opened with O_DIRECT.
func NoODirect() Option { return withoutFeature(featODirect, "service declares NoODirect") }

// NoUnlinkedOpen declares that an open file whose name was unlinked cannot
// be read any more.
func NoUnlinkedOpen() Option {
	return withoutFeature(featUnlinkedOpen, "service declares NoUnlinkedOpen")
}

// NoSparse declares that the backend does not keep holes (Blocks always
// covers the whole size). Reading zeros from holes is still checked.
func NoSparse() Option { return withoutFeature(featSparse, "service declares NoSparse") }

// NoLargeFiles declares that offsets beyond 4 GiB are not supported.
func NoLargeFiles() Option { return withoutFeature(featLargeFiles, "service declares NoLargeFiles") }

// NoFallocate declares that File.Allocate is not supported at all.
func NoFallocate() Option { return withoutFeature(featFallocate, "service declares NoFallocate") }

// Skip skips one named case (as printed by go test -v, without the suite
// prefix), for a limitation no other option describes. reason is printed.
func Skip(caseName, reason string) Option {
	return func(c *config) { c.skipCases[caseName] = reason }
}

// Differs declares that the service, a reference rather than a candidate,
// behaves otherwise in one named case, as how says: check runs in place of
// the case and asserts that other behaviour, so that a change in it fails
// the case too (and the difference must be looked at again).
func Differs(caseName, how string, check func(t *testing.T, s fs.Service)) Option {
	return func(c *config) { c.differs[caseName] = difference{how, check} }
}

// testCase is one named conformance check.
type testCase struct {
	name  string
	needs []feature
	fn    func(t *testing.T, s fs.Service)
}

var conformanceCases []testCase

// register adds cases; called from the init functions of the case files.
func register(cases ...testCase) { conformanceCases = append(conformanceCases, cases...) }

// Cases returns the names of the cases Run runs, in its order (the subtest
// names). A harness that prepares one backend per case before the run (an
// instance of a long-running service, say) sizes it from this list.
func Cases() []string {
	names := make([]string, len(conformanceCases))
	for i, c := range sortedCases() {
		names[i] = c.name
	}
	return names
}

func sortedCases() []testCase {
	cases := append([]testCase(nil), conformanceCases...)
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	return cases
}

// Run runs every conformance case as a subtest, each on a fresh service from
// newService. The factory registers its own cleanup with t.Cleanup; the suite
// closes nothing but the files and directories it opens itself.
func Run(t *testing.T, newService func(t *testing.T) fs.Service, opts ...Option) {
	cfg := newConfig(opts)
	cases := sortedCases()
	checkUnique(t, cases)
	cfg.checkNamed(t, cases)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if d, ok := cfg.differs[tc.name]; ok {
				t.Logf("the service differs here, asserted instead: %s", d.how)
				d.check(t, newService(t))
				return
			}
			if reason := cfg.skipReason(tc.name, tc.needs); reason != "" {
				t.Skip(reason)
			}
			tc.fn(t, newService(t))
		})
	}
}

// checkNamed fails on a Differs naming a case the suite does not have: a
// renamed case would else run its usual checks on a known difference.
func (c *config) checkNamed(t *testing.T, cases []testCase) {
	t.Helper()
	have := map[string]bool{}
	for _, tc := range cases {
		have[tc.name] = true
	}
	for name := range c.differs {
		if !have[name] {
			t.Errorf("fstest.Differs names case %q, which the suite does not have", name)
		}
	}
}

func (c *config) skipReason(name string, needs []feature) string {
	if r, ok := c.skipCases[name]; ok {
		return "skipped by option: " + r
	}
	for _, f := range needs {
		if r, ok := c.missing[f]; ok {
			return fmt.Sprintf("needs %s: %s", f, r)
		}
	}
	return ""
}

func checkUnique(t *testing.T, cases []testCase) {
	t.Helper()
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] || strings.ContainsAny(c.name, " /") {
			t.Fatalf("fstest: bad or duplicate case name %q", c.name)
		}
		seen[c.name] = true
	}
}

// ctx returns the context for the calls of one case.
func ctx(t testing.TB) context.Context { return t.Context() }
