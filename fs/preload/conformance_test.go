package preload_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestConformance runs the POSIX checks of testdata/conform.c natively (as
// a reference: the program itself must be right) and through the library,
// on the bare union and on system D's default stack (client cache over
// O_DIRECT branches), and checks that the files landed in the service's
// writable branch, not in the host directory under the mount path.
func TestConformance(t *testing.T) {
	prog := compile(t, "testdata/conform.c")
	native := t.TempDir()
	if out, err := runErr(nil, native, 30*time.Second, prog, native); err != nil {
		t.Fatalf("native run: %v\n%s", err, out)
	}
	for _, stack := range []struct {
		name   string
		dStack bool
	}{{"union", false}, {"D", true}} {
		t.Run(stack.name, func(t *testing.T) {
			p := startPool(t, poolOpts{dStack: stack.dStack})
			run(t, p, p.Root, 10*time.Second, "mkdir", "c")
			out, err := runErr(p, p.Root, 30*time.Second, prog, filepath.Join(p.Root, "c"))
			if err != nil {
				var failed []string
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, "FAIL") {
						failed = append(failed, l)
					}
				}
				t.Fatalf("through the library: %v\n%s", err, strings.Join(failed, "\n"))
			}
			if _, err := os.Stat(filepath.Join(p.Upper, "c", "f2")); err != nil {
				t.Errorf("file f2 is not in the writable branch: %v", err)
			}
			if _, err := os.Stat(filepath.Join(p.Root, "c")); !os.IsNotExist(err) {
				t.Errorf("the program wrote to the host directory under the mount path (stat: %v)", err)
			}
		})
	}
}

// TestInert: without the environment variables the library passes
// everything to the kernel.
func TestInert(t *testing.T) {
	prog := compile(t, "testdata/conform.c")
	dir := t.TempDir()
	ctxOut, err := runErr(nil, dir, 30*time.Second, "env", "LD_PRELOAD="+libPath, prog, dir)
	if err != nil {
		t.Fatalf("inert library: %v\n%s", err, ctxOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "f2")); err != nil {
		t.Errorf("inert run did not write to the kernel: %v", err)
	}
}

// TestConformanceCMA: the same checks with the payload moved by the
// service with cross-memory attach (POLYTROPON_COPY=CMA) instead of the
// buffer's data area.
func TestConformanceCMA(t *testing.T) {
	prog := compile(t, "testdata/conform.c")
	p := startPool(t, poolOpts{})
	run(t, p, p.Root, 10*time.Second, "mkdir", "c")
	out := runEnv(t, p, p.Root, []string{"POLYTROPON_COPY=CMA"}, prog, filepath.Join(p.Root, "c"))
	if !strings.Contains(out, "0 failures") {
		t.Fatalf("through the library with CMA:\n%s", out)
	}
}
