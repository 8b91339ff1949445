package systems

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"polytropon/fs/preload"
	"polytropon/ipc/queue"
)

// D's options: the service binary, the preload library and the default
// wait strategy. F, FP and D-ceph build D's configuration, so they share
// them.

// serviceBinary finds the polytropon executable.
func serviceBinary(opt string) (string, error) {
	for _, cand := range []string{opt, os.Getenv("POLYTROPON_BIN")} {
		if cand != "" {
			if _, err := os.Stat(cand); err != nil {
				return "", fmt.Errorf("%w: service binary %s: %v", ErrUnavailable, cand, err)
			}
			return cand, nil
		}
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "polytropon" {
		return exe, nil
	}
	if p, err := exec.LookPath("polytropon"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: the filesystem service needs the polytropon binary (set option binary or $POLYTROPON_BIN, or put it in PATH)", ErrUnavailable)
}

var userlevelOptions = map[string]bool{
	"binary": true, "preload": true, "fuse": true, "fuse_kernel_cache": true,
	"design": true, "wait": true, "copy": true, "buffers": true,
	"buffer_size": true, "queues": true, "pin": true, "cache": true, "odirect": true,
}

// preloadLibrary returns the preload library for ProcEnv: opt if set, else
// fs/preload's library, rebuilt with make when make and gcc are installed
// (a no-op when it is up to date).
func preloadLibrary(opt string) (string, error) {
	if opt != "" {
		abs, err := filepath.Abs(opt)
		if err == nil {
			_, err = os.Stat(abs)
		}
		if err != nil {
			return "", fmt.Errorf("systems: D: option preload: %w", err)
		}
		return abs, nil
	}
	lib, err := preload.Path()
	if err != nil {
		return "", fmt.Errorf("%w: D: cannot locate %s (set option preload or $POLYTROPON_PRELOAD): %v", ErrUnavailable, preload.LibName, err)
	}
	var missing []string
	for _, tool := range []string{"make", "gcc"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		if _, err := os.Stat(lib); err == nil {
			return lib, nil // prebuilt; it cannot be rebuilt here
		}
		return "", fmt.Errorf("%w: D: %s is missing and cannot be built without %s (Debian packages: %s)",
			ErrUnavailable, lib, strings.Join(missing, " and "), strings.Join(missing, ", "))
	}
	if lib, err = preload.Build(); err != nil {
		return "", fmt.Errorf("systems: D: building the preload library: %w", err)
	}
	return lib, nil
}

// boolOption parses a boolean option with a default.
func boolOption(o map[string]string, key string, def bool) (bool, error) {
	v := o[key]
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("systems: D: option %s = %q is not a boolean", key, v)
	}
	return b, nil
}

// withDefaultWait picks the service's wait strategy when the experiment did
// not: spin-then-futex (the papers' choice) only when the pool owns at least
// two cores that no other pool shares, so a polling service thread never
// takes the core its own tenant's application needs; plain futex sleeps
// otherwise (measured in docs/bench-preload.md: spinning on oversubscribed
// cores made db_bench fillrandom 4.8x slower). It returns a copy; opts is
// shared by every pool of the experiment.
func withDefaultWait(opts map[string]string, cores int, oversubscribed bool) map[string]string {
	if opts["wait"] != "" {
		return opts
	}
	out := make(map[string]string, len(opts)+1)
	for k, v := range opts {
		out[k] = v
	}
	out["wait"] = queue.SpinFutex.String()
	if cores < 2 || oversubscribed {
		out["wait"] = queue.Futex.String()
	}
	return out
}
