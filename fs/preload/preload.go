// Package preload holds the Polytropon preload library, libpolytropon.so
// (C sources in this directory), and the Go helpers that locate and build
// it.
//
// The library lets unmodified, dynamically linked programs use a pool's
// filesystem service: run them with
//
//	LD_PRELOAD=/path/to/libpolytropon.so
//	POLYTROPON_SHM_KEY=<System V key of the service segment>  (or)
//	POLYTROPON_POOL=<pool name>                                (key = wire.SegmentKey(pool))
//
// Every libc file call whose path falls under a mount of the service's
// mount table, or whose fd the library handed out, goes to the service over
// shared memory (the protocol of package fs/wire, C header
// polytropon_wire.h); everything else goes to the kernel unchanged. Without
// either variable the library is inert. When it names a pool whose segment
// cannot be attached, the paths of POLYTROPON_MOUNTS (the service's mount
// paths, ':'-separated) answer ENOTCONN instead of reaching the host
// directories beneath (no silent fallback; a FUSE mount of the service
// covering a path still serves it); other paths go to the kernel. Optional:
// POLYTROPON_COPY=SMC|CMA overrides the data transfer, POLYTROPON_DEBUG=1
// prints diagnostics on stderr. See docs/preload.md.
package preload

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
)

// LibName is the file name of the library.
const LibName = "libpolytropon.so"

// ErrNoSource: the C sources of the library cannot be found (the binary
// does not run from a checkout).
var ErrNoSource = errors.New("preload: library sources not found")

// Dir returns the directory of the C sources (this package's directory):
// $POLYTROPON_PRELOAD_DIR if set, else the directory this file was
// compiled from.
func Dir() (string, error) {
	if d := os.Getenv("POLYTROPON_PRELOAD_DIR"); d != "" {
		return d, nil
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", ErrNoSource
	}
	d := filepath.Dir(file)
	if _, err := os.Stat(filepath.Join(d, "Makefile")); err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoSource, d, err)
	}
	return d, nil
}

// Path returns the path of libpolytropon.so: $POLYTROPON_PRELOAD if set,
// else the library in the source directory. It does not build it (see
// Build); the file may be missing.
func Path() (string, error) {
	if p := os.Getenv("POLYTROPON_PRELOAD"); p != "" {
		return p, nil
	}
	d, err := Dir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, LibName), nil
}

var buildMu sync.Mutex

// Build runs make in the source directory (a no-op when the library is up
// to date) and returns the library's path. It needs make and gcc.
func Build() (string, error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	if p := os.Getenv("POLYTROPON_PRELOAD"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("preload: $POLYTROPON_PRELOAD: %w", err)
		}
		return p, nil
	}
	d, err := Dir()
	if err != nil {
		return "", err
	}
	out, err := exec.Command("make", "-s", "-C", d).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("preload: make -C %s: %v\n%s", d, err, out)
	}
	return filepath.Join(d, LibName), nil
}

// Env returns the environment variables that put a program on the
// service with System V key key (0: use pool instead).
func Env(lib string, key int, pool string) []string {
	env := []string{"LD_PRELOAD=" + lib}
	if key != 0 {
		env = append(env, fmt.Sprintf("POLYTROPON_SHM_KEY=%d", key))
	} else {
		env = append(env, "POLYTROPON_POOL="+pool)
	}
	return env
}

// MountsEnv returns the POLYTROPON_MOUNTS variable listing the mount
// paths of the pool's service: when the library cannot attach the
// service's segment, calls on paths under them fail with ENOTCONN instead
// of reaching the host directories beneath (unless a FUSE mount of the
// service covers them).
func MountsEnv(paths []string) string { return "POLYTROPON_MOUNTS=" + strings.Join(paths, ":") }

// WithEnv returns base with the variables of env replacing those of the
// same name.
func WithEnv(base, env []string) []string {
	names := map[string]bool{}
	for _, kv := range env {
		names[strings.SplitN(kv, "=", 2)[0]] = true
	}
	out := make([]string, 0, len(base)+len(env))
	for _, kv := range base {
		if !names[strings.SplitN(kv, "=", 2)[0]] {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}
