package client_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/client"
	"polytropon/fs/front"
	"polytropon/fs/fstest"
	"polytropon/fs/service/servicetest"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// TestManyGoroutines: more goroutines than request buffers, each with its
// own file, on one instance; every byte read back is checked.
func TestManyGoroutines(t *testing.T) {
	for _, wait := range []string{"spin-futex", "adaptive"} {
		t.Run(wait, func(t *testing.T) { manyGoroutines(t, wait) })
	}
}

func manyGoroutines(t *testing.T, wait string) {
	sp := startService(t, svcOpts{args: []string{"-wait", wait}})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	v, err := c.FS(mp)
	if err != nil {
		t.Fatal(err)
	}
	const workers = 48 // the service has 32 buffers
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- checkedIO(v, fmt.Sprintf("g%d", w), byte(w), 30)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	ents := readAll(t, v, "")
	if len(ents) != workers {
		t.Errorf("directory lists %d entries, want %d", len(ents), workers)
	}
	checkNoOpenFiles(t, c)
}

func checkedIO(v fs.Service, name string, fill byte, rounds int) error {
	ctx := context.Background()
	f, err := v.Open(ctx, name, syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	want := bytes.Repeat([]byte{fill}, 5000+int(fill)*37)
	got := make([]byte, len(want))
	for i := 0; i < rounds; i++ {
		if _, err := f.Pwrite(want, int64(i*100)); err != nil {
			return fmt.Errorf("%s round %d: %w", name, i, err)
		}
		n, err := f.Pread(got, int64(i*100))
		if err != nil || n != len(got) || !bytes.Equal(got, want) {
			return fmt.Errorf("%s round %d: read %d bytes (err %v), content equal %v", name, i, n, err, bytes.Equal(got, want))
		}
		if _, err := v.Stat(ctx, name); err != nil {
			return err
		}
	}
	return nil
}

func readAll(t *testing.T, v fs.Service, name string) []fs.Dirent {
	t.Helper()
	d, err := v.OpenDir(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ents, err := d.ReadDir(0)
	if err != nil {
		t.Fatal(err)
	}
	return ents
}

// TestSeveralClientProcesses: client processes and goroutines of this
// TestIdleClientsHoldNoBuffers: a client keeps its request buffers parked
// between calls, where another client that finds no free buffer takes them
// over, so more clients than buffers are all served while the others idle.
// (Each kept its buffers before: the fifth client of four buffers waited a
// second and failed with EAGAIN.)
func TestIdleClientsHoldNoBuffers(t *testing.T) {
	const buffers, clients = 4, 8
	sp := startService(t, svcOpts{args: []string{"-buffers", strconv.Itoa(buffers)}})
	cs := []*client.Client{sp.dial(t, client.Options{})}
	mp, _ := mountLocal(t, sp, cs[0])
	for len(cs) < clients {
		cs = append(cs, sp.dial(t, client.Options{}))
	}
	for round := range 2 {
		for i, c := range cs {
			v, _ := c.FS(mp)
			if err := checkedIO(v, fmt.Sprintf("c%d", i), byte(i), 1); err != nil {
				t.Fatalf("round %d, client %d of %d on %d buffers: %v", round, i, clients, buffers, err)
			}
		}
	}
	if n := buffersOwnedBy(t, sp.Key, os.Getpid()); n != buffers {
		t.Errorf("this process holds or parks %d buffers, want all %d", n, buffers)
	}
	for _, c := range cs {
		c.Close()
	}
	if n := buffersOwnedBy(t, sp.Key, os.Getpid()); n != 0 {
		t.Errorf("after every client closed, %d buffers are still held or parked", n)
	}
}

// TestCloseKeepsTakenOverBuffers: a connection's Close frees only the
// buffers it still has parked, not one another connection of the same
// process took over and is using (the owner word names the process, not
// the connection).
func TestCloseKeepsTakenOverBuffers(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-buffers", "1"}})
	a, err := front.Attach(sp.Key, front.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := front.Attach(sp.Key, front.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	buf, err := a.Get()
	if err != nil {
		t.Fatal(err)
	}
	a.Put(buf) // parked by a
	taken, err := b.Get()
	if err != nil {
		t.Fatalf("the second connection got no buffer: %v", err)
	}
	if taken.Index != buf.Index || taken.Owner() != os.Getpid() {
		t.Fatalf("the second connection got buffer %d owned by %d, want the parked %d, owned by %d", taken.Index, taken.Owner(), buf.Index, os.Getpid())
	}
	a.Close()
	if o := taken.Owner(); o != os.Getpid() {
		t.Errorf("after the first connection closed, the buffer the second uses is owned by %d, want %d", o, os.Getpid())
	}
	b.Put(taken)
}

// process on one instance at once.
func TestSeveralClientProcesses(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, dir := mountLocal(t, sp, c)
	v, _ := c.FS(mp)
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*servicetest.Log, procs)
	for i := range cmds {
		outs[i] = &servicetest.Log{}
		cmds[i] = helperCmd(t, "load", "KEY="+strconv.Itoa(sp.Key), "MNT="+mp)
		cmds[i].Stdout, cmds[i].Stderr = outs[i], outs[i]
		if err := cmds[i].Start(); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := checkedIO(v, fmt.Sprintf("local%d", w), byte(100+w), 50); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := waitTimeout(cmd, 60*time.Second); err != nil {
			t.Errorf("client process %d: %v\n%s", i, err, outs[i])
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "load-*"))
	if len(files) != procs {
		t.Errorf("host directory has %d load files, want %d", len(files), procs)
	}
	checkNoOpenFiles(t, c)
}

func waitTimeout(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("killed after %v", d)
	}
}

// TestKillClientMidRequest: a client killed with SIGKILL while it issues
// requests loses its open files and buffers; the service serves the others.
func TestKillClientMidRequest(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	v, _ := c.FS(mp)
	before, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, "busy", "KEY="+strconv.Itoa(sp.Key), "MNT="+mp)
	var errOut servicetest.Log
	cmd.Stderr = &errOut
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("busy client: %q %v\n%s", line, err, &errOut)
	}
	mid, _ := c.Info()
	if mid.OpenFiles != before.OpenFiles+5 || mid.Clients != before.Clients+1 {
		t.Errorf("with the busy client: %d open files, %d clients; want %d and %d",
			mid.OpenFiles, mid.Clients, before.OpenFiles+5, before.Clients+1)
	}
	time.Sleep(50 * time.Millisecond) // let it be in the middle of requests
	cmd.Process.Kill()
	cmd.Wait()
	var after wire.Info
	ok := waitFor(5*time.Second, func() bool {
		after, _ = c.Info()
		return after.OpenFiles == before.OpenFiles && after.Clients == before.Clients
	})
	if !ok {
		t.Errorf("after the kill: %d open files, %d clients; want %d and %d", after.OpenFiles, after.Clients, before.OpenFiles, before.Clients)
	}
	if owned := buffersOwnedBy(t, sp.Key, cmd.Process.Pid); owned != 0 {
		t.Errorf("%d request buffers still owned by the dead client", owned)
	}
	if err := checkedIO(v, "after-kill", 7, 5); err != nil {
		t.Errorf("service after the kill: %v", err)
	}
}

// TestKillService: with the service killed (SIGKILL, no cleanup), calls
// fail with ENOTCONN instead of hanging, within about a second.
func TestKillService(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	v, _ := c.FS(mp)
	if err := checkedIO(v, "before", 1, 2); err != nil {
		t.Fatal(err)
	}
	// One goroutine keeps calling while the service dies.
	stop := make(chan struct{})
	busyErr := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				busyErr <- nil
				return
			default:
			}
			if _, err := v.Stat(context.Background(), "before"); err != nil {
				busyErr <- err
				return
			}
		}
	}()
	time.Sleep(20 * time.Millisecond)
	sp.Kill()
	start := time.Now()
	res := make(chan error, 1)
	go func() { _, err := v.Stat(context.Background(), "before"); res <- err }()
	select {
	case err := <-res:
		took := time.Since(start)
		t.Logf("call after the kill failed after %v: %v", took.Round(time.Millisecond), err)
		if !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("got %v, want ENOTCONN", err)
		}
		// The pid check notices a killed service within ~100 ms; allow a
		// loaded CI machine some slack, but far less than the heartbeat.
		if took > 2*time.Second {
			t.Errorf("detecting the dead service took %v, want about 100ms (never the heartbeat's %v)", took, wire.HeartbeatStale)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a call to a dead service hung for 10s")
	}
	select {
	case err := <-busyErr:
		if !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("the busy goroutine got %v, want ENOTCONN", err)
		}
	case <-time.After(10 * time.Second):
		close(stop)
		t.Error("the busy goroutine hung")
	}
	if _, err := client.Dial(context.Background(), client.Options{Key: sp.Key, ReadyTimeout: 100 * time.Millisecond}); err == nil {
		t.Error("dialing a dead service succeeded")
	}
}

// TestForkSharesOpenFiles: the child of a fork claims the slot its parent
// prepared and reads through the parent's fd after the parent closed it.
func TestForkSharesOpenFiles(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	fd, err := c.OpenFd(mp+"/shared", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteFd(fd, []byte("hello world")); err != nil {
		t.Fatal(err)
	}
	if off, err := c.Lseek(fd, 6, io.SeekStart); err != nil || off != 6 {
		t.Fatalf("lseek: %d %v", off, err)
	}
	tok, err := c.ForkPrepare()
	if err != nil {
		t.Fatal(err)
	}
	blob, err := wire.MarshalExec(c.State())
	if err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, "fork-child", "KEY="+strconv.Itoa(sp.Key), "TOKEN="+strconv.FormatUint(tok, 10),
		"STATE="+hex.EncodeToString(blob), "FD="+strconv.Itoa(fd))
	var out servicetest.Log
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := c.ForkCommit(tok, cmd.Process.Pid); err != nil {
		t.Errorf("fork commit: %v", err)
	}
	if err := c.CloseFd(fd); err != nil { // the child still holds the file
		t.Fatal(err)
	}
	if err := waitTimeout(cmd, 30*time.Second); err != nil {
		t.Fatalf("child: %v\n%s", err, &out)
	}
	if got := strings.TrimSpace(out.String()); got != `read "world"` {
		t.Errorf("child printed %q, want read \"world\" (shared offset 6)", got)
	}
	if !waitFor(3*time.Second, func() bool { in, _ := c.Info(); return in.OpenFiles == 0 && in.ForkTokens == 0 }) {
		in, _ := c.Info()
		t.Errorf("after the child: %d open files, %d fork slots; want 0", in.OpenFiles, in.ForkTokens)
	}
	// An aborted fork leaves nothing behind.
	fd, _ = c.OpenFd(mp+"/shared", syscall.O_RDONLY, 0)
	tok, _ = c.ForkPrepare()
	if in, _ := c.Info(); in.ForkTokens != 1 {
		t.Errorf("%d fork slots after prepare, want 1", in.ForkTokens)
	}
	if err := c.ForkAbort(tok); err != nil {
		t.Error(err)
	}
	c.CloseFd(fd)
	if in, _ := c.Info(); in.ForkTokens != 0 || in.OpenFiles != 0 {
		t.Errorf("after abort: %d fork slots, %d open files", in.ForkTokens, in.OpenFiles)
	}
}

// TestExecKeepsOpenFiles: state saved before exec comes back in the new
// image; close-on-exec fds do not.
func TestExecKeepsOpenFiles(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, dir := mountLocal(t, sp, c)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("hello world"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := helperCmd(t, "exec1", "KEY="+strconv.Itoa(sp.Key), "FILE="+mp+"/f")
	var out servicetest.Log
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := waitTimeout(cmd, 30*time.Second); err != nil {
		t.Fatalf("exec helper: %v\n%s", err, &out)
	}
	want := fmt.Sprintf(`read "lo world" cloexec-open=false pid=%d`, cmd.Process.Pid)
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("new image printed %q, want %q", got, want)
	}
	if !waitFor(3*time.Second, func() bool { in, _ := c.Info(); return in.OpenFiles == 0 }) {
		in, _ := c.Info()
		t.Errorf("after exit: %d open files", in.OpenFiles)
	}
}

// TestDupSharesOffset: dup'ed fds share the service-side offset; closing
// one keeps the file for the other.
func TestDupSharesOffset(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	fd, err := c.OpenFd(mp+"/d", syscall.O_CREAT|syscall.O_RDWR|syscall.O_TRUNC, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	c.WriteFd(fd, []byte("abcdef"))
	c.Lseek(fd, 0, io.SeekStart)
	fd2, err := c.Dup(fd)
	if err != nil || fd2 == fd || fd2 < wire.LibFdBase {
		t.Fatalf("dup: %d %v", fd2, err)
	}
	buf := make([]byte, 2)
	c.ReadFd(fd, buf)
	c.CloseFd(fd)
	n, err := c.ReadFd(fd2, buf)
	if err != nil || string(buf[:n]) != "cd" {
		t.Errorf("read after dup and close: %q %v, want \"cd\"", buf[:n], err)
	}
	if _, err := c.ReadFd(fd, buf); !errors.Is(err, syscall.EBADF) {
		t.Errorf("read on a closed library fd: %v, want EBADF", err)
	}
	c.CloseFd(fd2)
	checkNoOpenFiles(t, c)
}

// TestPathsOutsideMounts: paths outside every mount are not ours.
func TestPathsOutsideMounts(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	for _, p := range []string{"/etc/passwd", "/t", mp + "x/y", "/"} {
		if _, _, err := c.Resolve(p); !errors.Is(err, client.ErrNotOurs) {
			t.Errorf("resolve %s: %v, want ErrNotOurs", p, err)
		}
		if _, err := c.OpenFd(p, syscall.O_RDONLY, 0); !errors.Is(err, client.ErrNotOurs) {
			t.Errorf("open %s: %v, want ErrNotOurs", p, err)
		}
	}
	if _, name, err := c.Resolve(mp + "/a/../b"); err != nil || name != "b" {
		t.Errorf("resolve inside: %q %v", name, err)
	}
	if _, err := c.FS("/nowhere"); !errors.Is(err, client.ErrNotOurs) {
		t.Errorf("FS outside: %v", err)
	}
	// The Client as an fs.Service: outside names are not ours (EXDEV).
	ctx := context.Background()
	_, err := c.Stat(ctx, "/etc/passwd")
	if !errors.Is(err, client.ErrNotOurs) || fs.Errno(err) != syscall.EXDEV {
		t.Errorf("Client.Stat outside: %v (errno %v), want ErrNotOurs with EXDEV", err, fs.Errno(err))
	}
	if err := c.Mkdir(ctx, mp+"/sub", 0o755); err != nil {
		t.Errorf("Client.Mkdir inside: %v", err)
	}
	if st, err := c.Stat(ctx, mp+"/sub"); err != nil || !st.IsDir() {
		t.Errorf("Client.Stat inside: %+v %v", st, err)
	}
	if err := c.Rename(ctx, mp+"/sub", "/elsewhere", 0); !errors.Is(err, client.ErrNotOurs) {
		t.Errorf("rename out of the mounts: %v", err)
	}
}

// TestEscape runs the escape suite through the client: nothing the tenant
// names through the IPC path reaches outside the instance root.
func TestEscape(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	fstest.RunEscape(t, func(t *testing.T) (fs.Service, string) {
		mp, dir := mountLocal(t, sp, c)
		outside := filepath.Join(filepath.Dir(dir), "outside-"+filepath.Base(dir))
		if err := os.Mkdir(outside, 0o755); err != nil {
			t.Fatal(err)
		}
		v, err := c.FS(mp)
		if err != nil {
			t.Fatal(err)
		}
		return v, outside
	})
}

// TestServiceStopsOnSIGTERM: SIGTERM stops the service cleanly (exit 0),
// removes its segment, and clients see ENOTCONN.
func TestServiceStopsOnSIGTERM(t *testing.T) {
	sp := startService(t, svcOpts{stop: 10 * time.Second})
	c := sp.dial(t, client.Options{})
	if err := c.Null(); err != nil {
		t.Fatal(err)
	}
	if err := sp.Stop(t); err != nil {
		t.Errorf("service exit: %v\n%s", err, sp.Log)
	}
	if seg, err := shm.Open(sp.Key); err == nil {
		seg.Detach()
		t.Error("the segment survived a clean stop")
	}
	if err := c.Null(); !errors.Is(err, syscall.ENOTCONN) {
		t.Errorf("call after the stop: %v, want ENOTCONN", err)
	}
}

// TestEverySharedDesign: the service runs on every queue design that can
// live in shared memory, with each sleeping wait strategy.
func TestEverySharedDesign(t *testing.T) {
	for _, d := range queue.Designs() {
		if !d.Shared {
			continue
		}
		for _, wait := range []string{"spin-futex", "futex"} {
			t.Run(d.Name+"/"+wait, func(t *testing.T) {
				sp := startService(t, svcOpts{args: []string{"-design", d.Name, "-wait", wait}})
				c := sp.dial(t, client.Options{})
				mp, _ := mountLocal(t, sp, c)
				v, _ := c.FS(mp)
				var wg sync.WaitGroup
				for w := 0; w < 4; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						if err := checkedIO(v, fmt.Sprintf("f%d", w), byte(w), 10); err != nil {
							t.Error(err)
						}
					}()
				}
				wg.Wait()
			})
		}
	}
}

// TestPinThreads: with Pin, a thread's first request pins it to the CPUs
// of the queue's core group (here: one queue for every CPU of the service).
func TestPinThreads(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-queues", "2"}})
	c := sp.dial(t, client.Options{Pin: true})
	runtime.LockOSThread() // keep this goroutine on the thread we inspect
	defer runtime.UnlockOSThread()
	var before unix.CPUSet
	if err := unix.SchedGetaffinity(0, &before); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &before)
	if err := c.Null(); err != nil {
		t.Fatal(err)
	}
	var after unix.CPUSet
	unix.SchedGetaffinity(0, &after)
	if before.Count() > 1 && after.Count() >= before.Count() {
		t.Errorf("thread affinity %d CPUs after the first request, want fewer than %d (one core group)", after.Count(), before.Count())
	}
	if after.Count() == 0 {
		t.Error("thread pinned to no CPU")
	}
}
