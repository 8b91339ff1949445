package systems

import (
	"context"
	"fmt"

	"polytropon/fs"
	"polytropon/fs/hostfs"
	"polytropon/internal/registry"
)

// Opener opens the libservice a Go workload uses for a container.
type Opener func(ctx context.Context, c Container) (fs.Service, error)

// openers are the openers by FSSpec kind.
var openers = registry.New[Opener]("systems", "fs kind")

// RegisterOpener adds an opener for FSSpec.Kind; for init functions only
// (panics on duplicates).
func RegisterOpener(kind string, o Opener) { openers.Register(kind, o) }

// OpenFS opens the container's filesystem as a libservice, with the opener
// its FSSpec names.
func OpenFS(ctx context.Context, c Container) (fs.Service, error) {
	o, err := openers.Lookup(c.FS.Kind)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrUnavailable)
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
