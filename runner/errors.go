package runner

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
)

var (
	// ErrNotRoot means the run needs root (cgroups, namespaces, mounts).
	ErrNotRoot = errors.New("runner: must run as root")
	// ErrToolMissing means a program the run needs is not installed; the
	// message names the Debian package.
	ErrToolMissing = errors.New("runner: required program not installed")
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

// requireTools checks programs in PATH; tools maps program -> Debian package.
func requireTools(tools [][2]string) error {
	var errs []error
	for _, t := range tools {
		if _, err := exec.LookPath(t[0]); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s (apt-get install %s)", ErrToolMissing, t[0], t[1]))
		}
	}
	return errors.Join(errs...)
}
