package runner

import (
	"context"

	"polytropon/runner/pool"
	"polytropon/systems"
)

// systemPool hands a provisioned pool to a system under test: it is
// systems.Pool over runner/pool (the two Cmd types have the same fields).
type systemPool struct{ *pool.Pool }

func (p systemPool) Start(ctx context.Context, c systems.Cmd) (systems.Process, error) {
	proc, err := p.Pool.Start(ctx, pool.Cmd(c))
	if err != nil {
		return nil, err
	}
	return proc, nil
}
