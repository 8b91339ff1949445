package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// newTestSegment creates a segment under a key unique to this process and
// test, removed (IPC_RMID) and detached when the test ends, pass or fail.
func newTestSegment(t *testing.T, size int) *Segment {
	t.Helper()
	key := Key(fmt.Sprintf("test-%d", os.Getpid()), t.Name())
	seg, err := Create(key, size)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := seg.Remove(); err != nil {
			t.Errorf("Remove: %v", err)
		}
		if err := seg.Detach(); err != nil {
			t.Errorf("Detach: %v", err)
		}
	})
	return seg
}

func TestCreateOpenRemove(t *testing.T) {
	seg := newTestSegment(t, 8192)
	if got := len(seg.Bytes()); got < 8192 {
		t.Fatalf("len(Bytes()) = %d, want >= 8192", got)
	}
	seg.Bytes()[100] = 42

	if _, err := Create(seg.Key(), 8192); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Create of key %#x: err = %v, want ErrExist", seg.Key(), err)
	}
	other, err := Open(seg.Key())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if other.Bytes()[100] != 42 {
		t.Errorf("second attachment does not see the first one's write")
	}
	other.Bytes()[101] = 7
	if seg.Bytes()[101] != 7 {
		t.Errorf("first attachment does not see the second one's write")
	}
	if err := other.Detach(); err != nil {
		t.Fatalf("Detach: %v", err)
	}
	if err := other.Detach(); err != nil {
		t.Fatalf("second Detach should be a no-op: %v", err)
	}

	byID, err := Attach(seg.ID())
	if err != nil {
		t.Fatalf("Attach(%d): %v", seg.ID(), err)
	}
	if byID.Bytes()[100] != 42 {
		t.Errorf("Attach by id does not see the segment's contents")
	}
	byID.Detach()

	if _, err := Open(Key("no-such-pool", t.Name())); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open of a missing key: err = %v, want ErrNotExist", err)
	}
}

func TestRemoveFreesKey(t *testing.T) {
	key := Key(fmt.Sprintf("test-%d", os.Getpid()), t.Name())
	seg, err := Create(key, 4096)
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Detach()
	if err := seg.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(key); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open after Remove: err = %v, want ErrNotExist", err)
	}
	seg.Bytes()[0] = 1 // still mapped until Detach
}

func TestCreateBadSize(t *testing.T) {
	for _, size := range []int{0, -1, maxSegment + 1} {
		if _, err := Create(Key("test", t.Name()), size); !errors.Is(err, ErrBadSize) {
			t.Errorf("Create(size %d): err = %v, want ErrBadSize", size, err)
		}
	}
}

func TestKey(t *testing.T) {
	a := Key("pool-a", "queue/0")
	if a != Key("pool-a", "queue/0") {
		t.Fatal("Key is not stable")
	}
	if a <= 0 {
		t.Fatalf("Key = %d, want > 0", a)
	}
	seen := map[int]string{}
	for _, in := range [][2]string{{"pool-a", "queue/0"}, {"pool-a", "queue/1"}, {"pool-b", "queue/0"}, {"pool-aq", "ueue/0"}, {"", ""}} {
		k := Key(in[0], in[1])
		if prev, dup := seen[k]; dup {
			t.Errorf("Key%q collides with %s", in, prev)
		}
		seen[k] = fmt.Sprint(in)
	}
}

// Helper-process modes, selected by the environment of the re-executed test
// binary.
const (
	envMode = "SHM_TEST_HELPER"
	envKey  = "SHM_TEST_KEY"
)

// TestHelperProcess is not a test: it is the body of child processes that
// the tests below start by re-executing the test binary.
func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(envMode)
	if mode == "" {
		t.Skip("helper process body; runs only when re-executed by another test")
	}
	key, _ := strconv.Atoi(os.Getenv(envKey))
	seg, err := Open(key)
	switch mode {
	case "open":
		if err != nil {
			fmt.Printf("open-failed: %v\n", err)
			os.Exit(3)
		}
		fmt.Println("open-ok")
		os.Exit(0)
	case "futex-wake":
		// Wait for the parent to publish 1 at offset 64, then set offset
		// 128 and wake the parent sleeping on it.
		if err != nil {
			fmt.Println(err)
			os.Exit(2)
		}
		r := seg.Region()
		for {
			v, _ := r.LoadUint32(64)
			if v == 1 {
				break
			}
			if err := r.FutexWait(64, v, 10*time.Second); err != nil {
				fmt.Println(err)
				os.Exit(2)
			}
		}
		r.StoreUint32(128, 1)
		r.FutexWake(128, 0)
		os.Exit(0)
	}
	os.Exit(2)
}

func helper(t *testing.T, mode string, key int, newIPC bool) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), envMode+"="+mode, envKey+"="+strconv.Itoa(key))
	if newIPC {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWIPC}
	}
	return cmd
}

// TestOtherIPCNamespaceCannotAttach shows the isolation pools rely on: the
// same key opened from a new IPC namespace finds nothing, while a control
// child in our namespace attaches fine.
func TestOtherIPCNamespaceCannotAttach(t *testing.T) {
	seg := newTestSegment(t, 4096)

	out, err := helper(t, "open", seg.Key(), false).CombinedOutput()
	if err != nil {
		t.Fatalf("control child in the same IPC namespace could not open key %#x: %v\n%s", seg.Key(), err, out)
	}

	out, err = helper(t, "open", seg.Key(), true).CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 {
		return // open failed, as it must
	}
	if err != nil && !errors.As(err, &exit) {
		t.Skipf("needs CLONE_NEWIPC (root or user namespaces): %v", err)
	}
	t.Fatalf("child in a new IPC namespace opened key %#x (err %v):\n%s", seg.Key(), err, out)
}

// TestFutexAcrossProcesses checks that wait and wake meet across processes
// (non-private futexes): parent and child each sleep on a word the other
// wakes.
func TestFutexAcrossProcesses(t *testing.T) {
	seg := newTestSegment(t, 4096)
	r := seg.Region()
	cmd := helper(t, "futex-wake", seg.Key(), false)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	r.StoreUint32(64, 1)
	r.FutexWake(64, 0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := r.LoadUint32(128)
		if err != nil {
			t.Fatal(err)
		}
		if v == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never woke us")
		}
		if err := r.FutexWait(128, 0, time.Second); err != nil && !errors.Is(err, ErrTimedOut) {
			t.Fatal(err)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

func TestFutexTimeoutAndWake(t *testing.T) {
	var word uint32
	// A signal (the Go runtime's preemption signal, say) ends a wait
	// early with nil, as documented; the timeout must come once no
	// signal lands within it.
	err := FutexWait(&word, 0, 20*time.Millisecond)
	for i := 0; err == nil && i < 50; i++ {
		err = FutexWait(&word, 0, 20*time.Millisecond)
	}
	if !errors.Is(err, ErrTimedOut) {
		t.Fatalf("FutexWait on an unchanged word: %v, want ErrTimedOut", err)
	}
	if err := FutexWait(&word, 5, time.Hour); err != nil {
		t.Fatalf("FutexWait with a stale value must return at once: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		for atomic.LoadUint32(&word) == 0 {
			if err := FutexWait(&word, 0, 0); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	time.Sleep(10 * time.Millisecond)
	atomic.StoreUint32(&word, 1)
	if _, err := FutexWake(&word, 1); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("waiter not woken")
	}
}
