package systems

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"polytropon/fs"
	"polytropon/fs/hostfs"
)

// Opener opens the libservice a Go workload uses for a container.
type Opener func(ctx context.Context, c Container) (fs.Service, error)

var (
	openersMu sync.Mutex
	openers   = map[string]Opener{}
)

// RegisterOpener adds an opener for FSSpec.Kind; for init functions only
// (panics on duplicates).
func RegisterOpener(kind string, o Opener) {
	openersMu.Lock()
	defer openersMu.Unlock()
	if _, dup := openers[kind]; dup {
		panic("systems: opener registered twice: " + kind)
	}
	openers[kind] = o
}

// OpenFS opens the container's filesystem as a libservice, with the opener
// its FSSpec names.
func OpenFS(ctx context.Context, c Container) (fs.Service, error) {
	openersMu.Lock()
	o, ok := openers[c.FS.Kind]
	var kinds []string
	for k := range openers {
		kinds = append(kinds, k)
	}
	openersMu.Unlock()
	if !ok {
		sort.Strings(kinds)
		return nil, fmt.Errorf("systems: no opener for fs kind %q (have %v): %w", c.FS.Kind, kinds, ErrUnavailable)
	}
	return o(ctx, c)
}

// HostKind is the FSSpec kind of hostfs.HostFS; Options["root"] overrides
// Container.Dir.
const HostKind = "host"

func init() {
	RegisterOpener(HostKind, func(_ context.Context, c Container) (fs.Service, error) {
		dir := c.Dir
		if r := c.FS.Options["root"]; r != "" {
			dir = r
		}
		if dir == "" {
			return nil, fmt.Errorf("systems: host opener: container has no directory")
		}
		return hostfs.New(dir)
	})
}
