package client_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"polytropon/fs"
	"polytropon/fs/client"
	"polytropon/fs/fstest"
)

// The conformance suite runs through the Go client against a real
// "polytropon serve" process: each case gets a fresh instance, mounted by a
// MOUNT request and unmounted when the case ends.

func TestConformanceLocal(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	fstest.Run(t, func(t *testing.T) fs.Service {
		mp, _ := mountLocal(t, sp, c)
		v, err := c.FS(mp)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	checkNoOpenFiles(t, c)
}

// unionConfig mounts at /u a union of a writable branch over a read-only
// lower branch shared under the name "image"; clones of it share that
// branch.
func unionConfig(t testing.TB, base string) string {
	upper, lower := filepath.Join(base, "upper0"), filepath.Join(base, "image")
	for _, d := range []string{upper, lower} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return fmt.Sprintf(`
[[instance]]
path = "/u"
share = true
stack = [{type = "union", branches = [
    {type = "local", dir = %q},
    {type = "local", dir = %q, readonly = true, shared = "image"}]}]
`, upper, lower)
}

func TestConformanceUnionClones(t *testing.T) {
	base := t.TempDir()
	sp := startService(t, svcOpts{config: unionConfig(t, base)})
	c := sp.dial(t, client.Options{})
	fstest.Run(t, func(t *testing.T) fs.Service {
		upper := sp.newDir(t)
		mp := nextMount("/u/clones")
		if _, err := c.Mount(mp, "clone", "upper="+upper, true); err != nil {
			t.Fatalf("mount clone %s: %v", mp, err)
		}
		t.Cleanup(func() { c.Umount(mp) })
		v, err := c.FS(mp)
		if err != nil {
			t.Fatal(err)
		}
		return v
	})
	checkNoOpenFiles(t, c)
}

// TestConformanceCopyMethods runs the I/O part of the suite with each data
// transfer method and a data area smaller than the suite's large transfers
// (chunking).
func TestConformanceCopyMethods(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-buffer-size", "8192"}})
	methods := []string{"SMC", "SMO", "CMA"}
	if testing.Short() {
		methods = []string{"CMA"} // SMC is the default of the other suites
	}
	for _, m := range methods {
		t.Run(m, func(t *testing.T) {
			c := sp.dial(t, client.Options{Copy: m})
			if c.CopyMethod() != m {
				t.Fatalf("copy method %s, want %s", c.CopyMethod(), m)
			}
			fstest.Run(t, func(t *testing.T) fs.Service {
				mp, _ := mountLocal(t, sp, c)
				v, err := c.FS(mp)
				if err != nil {
					t.Fatal(err)
				}
				return v
			})
		})
	}
}

func checkNoOpenFiles(t *testing.T, c *client.Client) {
	t.Helper()
	in, err := c.Info()
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	if in.OpenFiles != 0 {
		t.Errorf("service has %d open files after the suite, want 0", in.OpenFiles)
	}
}

// TestConformanceClientIsService: the Client returned by Dial is itself an
// fs.Service (rooted at "/" of the mount table); each case mounts a fresh
// directory at "/".
func TestConformanceClientIsService(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	fstest.Run(t, func(t *testing.T) fs.Service {
		if _, err := c.Mount("/", "local", "dir="+sp.newDir(t), false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Umount("/") })
		return c
	})
}
