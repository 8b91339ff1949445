package testenv

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// GuestEnv is set to 1 in the environment of every command that
// scripts/guest.sh runs inside its guest VM: the project's stand-in for a
// testbed host (Debian's stock kernel, cgroup v2 only, kernel CephFS).
const GuestEnv = "POLYTROPON_GUEST"

// InGuest reports whether the test runs inside that guest.
func InGuest() bool { return os.Getenv(GuestEnv) == "1" }

// skip skips the test on an ordinary host but fails it inside the guest,
// which has every capability the tests ask for: there a missing one is a
// broken guest, not a reason to skip.
func skip(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if InGuest() {
		tb.Fatalf("inside the guest nothing may skip: %s", msg)
	}
	tb.Skip(msg)
}

// Unavailable skips tb because the host lacks what why names (fails it
// inside the guest, like every Require* helper).
func Unavailable(tb testing.TB, why string) {
	tb.Helper()
	skip(tb, "%s", why)
}

// RequireCgroup2 skips unless /sys/fs/cgroup is a cgroup-v2-only
// hierarchy with the cpuset, cpu and memory controllers (a unified host,
// as most testbeds are; scripts/guest.sh runs one).
func RequireCgroup2(tb testing.TB) {
	tb.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		skip(tb, "needs a cgroup-v2-only host (/sys/fs/cgroup is not cgroup2 here; scripts/guest.sh runs one)")
	}
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		skip(tb, "needs cgroup v2 controllers: %v", err)
	}
	for _, c := range []string{"cpuset", "cpu", "memory"} {
		if !hasWord(string(b), c) {
			skip(tb, "needs the cgroup v2 %s controller (have: %s)", c, b)
		}
	}
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}
