package preload_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs/service/servicetest"
	"polytropon/internal/testenv"
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

// TestSpawn: children started by system, popen and posix_spawn (with file
// actions and attributes) inherit library fds and cwd, as after fork and
// exec: testdata/spawn.c redirects its stdout into the mount and the
// files it and its children write hold the same as natively. glibc runs
// these through its internal spawn, which bypasses the library, so
// without spawn.c the children would write to the placeholder.
func TestSpawn(t *testing.T) {
	prog := compile(t, "testdata/spawn.c")
	files := []string{"log", "piped", "spawned"}
	read := func(dir string) map[string]string {
		m := map[string]string{}
		for _, f := range files {
			b, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			m[f] = string(b)
		}
		return m
	}
	native := t.TempDir()
	if out := run(t, nil, native, 30*time.Second, prog); out != "" {
		t.Fatalf("natively, stdout should be the log file, got %q", out)
	}
	want := read(native)
	for _, line := range []string{"system\n", "read popen-r\npclose r status 3\n", "spawn-out\nfd3-closed\nspawn status 0\n",
		"SigBlk:\t0000000000000200\n", "missing program: No such file or directory\n", "failing open action: No such file or directory\n"} {
		if !strings.Contains(want["log"], line) {
			t.Fatalf("native log lacks %q:\n%s", line, want["log"])
		}
	}
	if want["piped"] != "popen-w\n" || want["spawned"] != "spawn-err\n" {
		t.Fatalf("native run: piped %q, spawned %q", want["piped"], want["spawned"])
	}
	p := startPool(t, poolOpts{})
	run(t, p, p.Root, 30*time.Second, prog)
	got := read(p.Upper)
	for _, f := range files {
		if got[f] != want[f] {
			t.Errorf("%s through the library:\n%s\nnatively:\n%s", f, got[f], want[f])
		}
	}

	// GNU make starts recipe commands with posix_spawn (file actions
	// included): with its output redirected into the mount, the commands'
	// output must land there too.
	testenv.RequireTool(t, "make", "make")
	mk := filepath.Join(t.TempDir(), "Makefile")
	if err := os.WriteFile(mk, []byte("all:\n\techo made-1\n\techo made-2 >&2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := "make -f " + mk + " > mlog 2>&1; echo rc=$?; cat mlog"
	wantMake := run(t, nil, native, 30*time.Second, "bash", "-c", script)
	if !strings.Contains(wantMake, "rc=0\n") || !strings.Contains(wantMake, "made-1\n") || !strings.Contains(wantMake, "made-2\n") {
		t.Fatalf("make natively:\n%s", wantMake)
	}
	if gotMake := run(t, p, p.Root, 30*time.Second, "bash", "-c", script); gotMake != wantMake {
		t.Errorf("make through the library:\n%s\nnatively:\n%s", gotMake, wantMake)
	}
	if ents, _ := os.ReadDir(p.Root); len(ents) != 0 {
		t.Errorf("%d entries reached the host directory under the mount", len(ents))
	}
}

// TestMoreProcessesThanBuffers: a process keeps its request buffers parked
// between calls, where another process that finds no free buffer takes
// them over: eight shells that each read a file, sleep and read it again
// all run on a pool of four buffers. (Each process kept its buffers before:
// the fifth shell waited a second for one and its read failed with EAGAIN
// while four sleeping shells held theirs.)
func TestMoreProcessesThanBuffers(t *testing.T) {
	const buffers, shells = 4, 8
	p := startPool(t, poolOpts{args: []string{"-buffers", fmt.Sprint(buffers)}})
	if err := os.WriteFile(filepath.Join(p.Upper, "f"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, shells)
	for i := range shells {
		go func() {
			out, err := runErr(p, p.Root, 60*time.Second, "sh", "-ec", `read x < f; sleep 2; read y < f; echo "$x $y"`)
			if err == nil && out != "hello hello\n" {
				err = fmt.Errorf("printed %q, want %q", out, "hello hello\n")
			}
			if err != nil {
				err = fmt.Errorf("shell %d of %d on %d buffers: %v\n%s", i, shells, buffers, err, out)
			}
			errs <- err
		}()
	}
	for range shells {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
