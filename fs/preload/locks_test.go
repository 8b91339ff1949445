package preload_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
)

// TestLocks: advisory locks hold between processes as on a kernel
// filesystem. testdata/locks.c checks fcntl POSIX and OFD locks, flock and
// lockf across fork natively, through the library (the service's lock
// table) and on the FUSE mount; flock(1) and two sqlite3 processes check
// the same with unmodified programs.
func TestLocks(t *testing.T) {
	testenv.RequireTool(t, "sqlite3", "sqlite3")
	testenv.RequireTool(t, "flock", "util-linux")
	prog := compile(t, "testdata/locks.c")
	native := t.TempDir()
	want := run(t, nil, native, 60*time.Second, prog)
	if strings.TrimSpace(want) != "locks ok" {
		t.Fatalf("natively: %s", want)
	}
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		if got := run(t, p, p.Root, 60*time.Second, prog); got != want {
			t.Fatalf("through %s:\n%s\nnatively:\n%s", via, got, want)
		}

		// flock(1): the inner command opens the file again, so its
		// non-blocking lock fails while the outer one holds it.
		got := run(t, p, p.Root, 30*time.Second, "bash", "-c",
			`flock -n lk -c 'flock -n lk true; echo inner $?'; flock -n lk true; echo after $?`)
		if got != "inner 1\nafter 0\n" {
			t.Errorf("flock(1) through %s: %q", via, got)
		}

		// sqlite3: a writer inside BEGIN EXCLUSIVE keeps a second process
		// out ("database is locked") until it commits.
		run(t, p, p.Root, 30*time.Second, "sqlite3", "db", "create table t(a);")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		holder := command(ctx, p, p.Root, "sqlite3", "db")
		holder.Stdin = strings.NewReader(`begin exclusive;
insert into t values(1);
.shell touch holding
.shell while [ ! -e release ]; do sleep 0.02; done
commit;
`)
		var hout strings.Builder
		holder.Stdout, holder.Stderr = &hout, &hout
		if err := holder.Start(); err != nil {
			t.Fatal(err)
		}
		awaitPath(t, filepath.Join(p.Root, "holding"), p, 30*time.Second)
		out, err := runErr(p, p.Root, 30*time.Second, "sqlite3", "db", "insert into t values(2);")
		if err == nil || !strings.Contains(out, "locked") {
			t.Errorf("second writer while the first holds the database (%s): %v %q", via, err, out)
		}
		run(t, p, p.Root, 30*time.Second, "touch", "release")
		if err := holder.Wait(); err != nil {
			t.Fatalf("holder: %v\n%s", err, hout.String())
		}
		run(t, p, p.Root, 30*time.Second, "sqlite3", "db", "insert into t values(3);")
		if got := run(t, p, p.Root, 30*time.Second, "sqlite3", "db", "select group_concat(a) from t;"); got != "1,3\n" {
			t.Errorf("rows after both writers (%s): %q, want 1,3", via, got)
		}
	})
}

// awaitPath waits until path exists as p's programs see it (through the
// library, or the FUSE mount) or fails the test.
func awaitPath(t *testing.T, path string, p *pool, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if p.Via == viaFuse {
			if _, err := os.Stat(path); err == nil {
				return
			}
		} else if _, err := runErr(p, filepath.Dir(path), 10*time.Second, "test", "-e", filepath.Base(path)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
