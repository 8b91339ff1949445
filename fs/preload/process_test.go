package preload_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs/service/servicetest"
)

// TestForkExecInheritedFd: a shell opens a file (exec 3>file), then forks
// and execs programs that keep writing through the inherited fd, and a
// subshell writes too; the content must be complete and in order. The fd
// crosses fork (FORK PREPARE/COMMIT, the child's REGISTER with the token)
// and exec (EXEC_SAVE, EXEC_RESTORE in the new image).
func TestForkExecInheritedFd(t *testing.T) {
	p := startPool(t, poolOpts{})
	script := `exec 3>log
for i in $(seq 1 40); do
	echo "shell $i" >&3
	/bin/echo "exec $i" >&3
	( echo "subshell $i" >&3 )
	sh -c 'echo "nested $0" >&3' $i
done
exec 3>&-
cat log
`
	var want strings.Builder
	for i := 1; i <= 40; i++ {
		fmt.Fprintf(&want, "shell %d\nexec %d\nsubshell %d\nnested %d\n", i, i, i, i)
	}
	got := run(t, p, p.Root, 120*time.Second, "bash", "-c", script)
	if got != want.String() {
		t.Fatalf("log read through the library:\n%s\nwant:\n%s", got, want.String())
	}
	host, err := os.ReadFile(filepath.Join(p.Upper, "log"))
	if err != nil || string(host) != want.String() {
		t.Fatalf("log in the writable branch (%v):\n%s", err, host)
	}
}

// TestCwdAcrossExec: a working directory inside the mount that exists only
// in the service survives exec.
func TestCwdAcrossExec(t *testing.T) {
	p := startPool(t, poolOpts{})
	got := run(t, p, p.Root, 30*time.Second, "bash", "-c", "mkdir -p a/b && cd a/b && echo hi > f && /bin/pwd && cat f && ls")
	want := filepath.Join(p.Root, "a", "b") + "\nhi\nf\n"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestDirFdAcrossExec: a directory fd opened through the library keeps
// its path across exec, so *at calls and fchdir relative to it reach the
// service in the new image (testdata/execdirfd.c; same output natively).
func TestDirFdAcrossExec(t *testing.T) {
	prog := compile(t, "testdata/execdirfd.c")
	want := "openat: hello\nfchdir: hello\ncwd ends in /sub\n"
	native := t.TempDir()
	os.MkdirAll(filepath.Join(native, "sub"), 0o755)
	os.WriteFile(filepath.Join(native, "sub", "f"), []byte("hello\n"), 0o644)
	if got := run(t, nil, native, 30*time.Second, prog, "sub"); got != want {
		t.Fatalf("natively: %q, want %q", got, want)
	}
	p := startPool(t, poolOpts{})
	run(t, p, p.Root, 30*time.Second, "bash", "-c", "mkdir sub && echo hello > sub/f")
	if got := run(t, p, p.Root, 30*time.Second, prog, "sub"); got != want {
		t.Fatalf("through the library: %q, want %q", got, want)
	}
	if st, err := os.Stat(filepath.Join(p.Upper, "sub", "g")); err != nil || !st.IsDir() {
		t.Errorf("directory made by mkdirat after exec is not in the writable branch: %v", err)
	}
}

// TestServiceDown: once the service is gone, calls on its files fail with
// EIO within about the heartbeat staleness, never hang, and never reach
// the host directory under the mount path.
func TestServiceDown(t *testing.T) {
	prog := compile(t, "testdata/down.c")
	p := startPool(t, poolOpts{})
	ctx, cancel := contextTimeout(30 * time.Second)
	defer cancel()
	cmd := command(ctx, p, p.Root, prog, "f")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &servicetest.Log{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if !waitFor(10*time.Second, func() bool { return strings.Contains(out.String(), "opened") }) {
		t.Fatalf("helper did not open its file: %s", out)
	}
	p.Kill()
	stdin.Close() // go on
	err = cmd.Wait()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	for _, want := range []string{"write: EIO", "read: EIO", "stat: EIO", "open: EIO"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	t.Logf("after the service died:\n%s", out)
	if ents, _ := os.ReadDir(p.Root); len(ents) != 0 {
		t.Errorf("the host directory under the mount path got %d entries", len(ents))
	}
}

// TestClone: a child made by clone() without CLONE_VM writes through the
// fd it inherited (the fork protocol runs around clone).
func TestClone(t *testing.T) {
	prog := compile(t, "testdata/clone.c")
	p := startPool(t, poolOpts{})
	run(t, p, p.Root, 30*time.Second, prog, "out")
	b, err := os.ReadFile(filepath.Join(p.Upper, "out"))
	if err != nil || string(b) != "from the clone child\nparent\n" {
		t.Fatalf("out = %q, %v", b, err)
	}
}
