package runner

import (
	"errors"
	"fmt"
	"os"
)

var (
	// ErrNotRoot means the run needs root (cgroups, namespaces, mounts).
	ErrNotRoot = errors.New("runner: must run as root")
	// ErrInterrupted means the run was stopped (Ctrl-C) before it finished;
	// finished repetitions are kept and the run is marked incomplete.
	ErrInterrupted = errors.New("runner: interrupted")
	// ErrPointsFailed means some points failed; the others were measured.
	ErrPointsFailed = errors.New("runner: some points failed")
	// ErrAgent wraps a failure reported by (or about) a workload agent.
	ErrAgent = errors.New("runner: workload agent failed")
)

// requireRoot fails with ErrNotRoot when not running as root.
func requireRoot(what string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: %s needs cgroups, namespaces and mounts (try sudo)", ErrNotRoot, what)
	}
	return nil
}
