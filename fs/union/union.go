package union

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"polytropon/fs"
)

const (
	// whiteoutPrefix marks the union's own names in a branch: ".wh.NAME" is
	// the whiteout of NAME. Callers may not use names with this prefix.
	whiteoutPrefix = ".wh."
	// internalPrefix starts names that are markers or temporaries, not
	// whiteouts.
	internalPrefix = ".wh..wh."
	// opaqueName in a directory hides everything lower branches hold there.
	opaqueName = ".wh..wh..opq"
	// tempPrefix names copy-ups and removals in progress.
	tempPrefix = ".wh..wh.tmp."
)

// ErrNoBranches is returned by New without branches or with a nil one.
var ErrNoBranches = errors.New("union: need at least one non-nil branch")

// Union is a copy-on-write union of branches. See the package documentation.
type Union struct {
	branches []fs.Service
	upper    fs.Service
	syncCopy bool
	chunk    int

	// nsMu orders namespace changes: operations that change names in one
	// place hold it for reading; rmdir and directory rename, which change
	// whole subtrees, hold it for writing. Copy-up data transfer holds it
	// not at all.
	nsMu sync.RWMutex
	// names serialises operations on the same name (copy-up, create,
	// remove, rename). Taken before nsMu.
	names keyedMutex
	cache dirCache

	tempSeq atomic.Uint64
}

var (
	_ fs.Service   = (*Union)(nil)
	_ fs.Unwrapper = (*Union)(nil)
	_ fs.Xattrer   = (*Union)(nil)
	_ fs.Flusher   = (*Union)(nil)
)

// Option configures a Union.
type Option func(*Union)

// WithCopyUpSync sets whether a copy-up flushes the new upper file to its
// backend before publishing it (default true, as overlayfs does): without it
// a host crash may leave a published copy with missing data.
func WithCopyUpSync(sync bool) Option { return func(u *Union) { u.syncCopy = sync } }

// WithCopyUpChunk sets the copy-up transfer size in bytes (default 1 MiB).
// All-zero chunks are skipped, so holes at this granularity stay holes.
func WithCopyUpChunk(n int) Option {
	return func(u *Union) {
		if n > 0 {
			u.chunk = n
		}
	}
}

// WithNameCacheLimit sets how many names of one directory of branch 0 the
// union remembers to answer negative lookups without asking branch 0
// (default 4096; 0 disables the name cache).
func WithNameCacheLimit(n int) Option { return func(u *Union) { u.cache.nameLimit = n } }

// New returns the union of branches: branches[0] is the writable upper
// branch, the others are read-only lower branches, top to bottom. Lower
// branches may be shared by many unions; none may change while in use, and
// branch 0 may change only through this union.
func New(branches []fs.Service, opts ...Option) (*Union, error) {
	if len(branches) == 0 {
		return nil, ErrNoBranches
	}
	for i, b := range branches {
		if b == nil {
			return nil, fmt.Errorf("branch %d is nil: %w", i, ErrNoBranches)
		}
	}
	u := &Union{
		branches: append([]fs.Service(nil), branches...),
		upper:    branches[0],
		syncCopy: true,
		chunk:    1 << 20,
	}
	u.cache.nameLimit = 4096
	u.cache.m = make(map[dirKey]*dirInfo)
	for _, o := range opts {
		o(u)
	}
	return u, nil
}

// Unwrap returns the branches, upper first.
func (u *Union) Unwrap() []fs.Service { return append([]fs.Service(nil), u.branches...) }

// Close closes nothing: the branches belong to the caller (lower ones are
// typically shared with other unions).
func (u *Union) Close() error { return nil }

// Statfs reports branch 0's statistics: that is where new data goes.
func (u *Union) Statfs(ctx context.Context, name string) (fs.Statfs, error) {
	name, err := u.check("statfs", name)
	if err != nil {
		return fs.Statfs{}, err
	}
	if _, _, _, err := u.find(ctx, name, true); err != nil {
		return fs.Statfs{}, fs.PathError("statfs", name, fs.Errno(err))
	}
	return u.upper.Statfs(ctx, "")
}

// maxNameLen is NAME_MAX; the union checks it itself because a negative
// lookup may be answered from its cache without asking a branch.
const maxNameLen = 255

// check cleans a caller's name and rejects the reserved prefix and
// over-long elements.
func (u *Union) check(op, name string) (string, error) {
	name = fs.Clean(name)
	if reserved(name) {
		return name, fs.PathError(op, name, syscall.EINVAL)
	}
	if len(name) > maxNameLen {
		for elem := range strings.SplitSeq(name, "/") {
			if len(elem) > maxNameLen {
				return name, fs.PathError(op, name, syscall.ENAMETOOLONG)
			}
		}
	}
	return name, nil
}

// reserved reports whether any element of a cleaned name has the union's
// reserved prefix.
func reserved(name string) bool {
	if !strings.Contains(name, whiteoutPrefix) {
		return false
	}
	for elem := range strings.SplitSeq(name, "/") {
		if strings.HasPrefix(elem, whiteoutPrefix) {
			return true
		}
	}
	return false
}

func join(dir, base string) string {
	if dir == "" {
		return base
	}
	return dir + "/" + base
}

// tempName returns a fresh internal name in dir of branch 0.
func (u *Union) tempName(dir string) string {
	n := u.tempSeq.Add(1)
	return join(dir, tempPrefix+strconv.FormatInt(time.Now().UnixNano(), 36)+"."+strconv.FormatUint(n, 36))
}

func whiteoutOf(dir, base string) string { return join(dir, whiteoutPrefix+base) }

// isAncestor reports whether a is a proper ancestor of b (cleaned names).
func isAncestor(a, b string) bool {
	return a != b && (a == "" || strings.HasPrefix(b, a+"/"))
}
