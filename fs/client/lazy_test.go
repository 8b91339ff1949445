package client_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"polytropon/fs/client"
)

// statsPerGoroutine is what each of statGoroutinesHelper's goroutines does.
const (
	statGoroutines    = 4
	statsPerGoroutine = 2000
)

// TestLazyWakeBatches: goroutines of a one-P client process that share
// their CPU with the service thread of their queue (D's one-core pool:
// adaptive wait, pinned service threads at nice -10) are served several
// requests per turn of the service thread. An enqueue that woke the
// service thread at once (EagerWake) hands it the CPU (its raised priority
// preempts the client) before the process's other goroutines have
// enqueued theirs: one request per turn, a pair of context switches each,
// which bounded D's fileserver on one core (docs/bench-threads.md). The
// enqueue now leaves the wake-up to the wait, which yields to the
// process's other goroutines first (fs/front/adaptive.go).
//
// Other load on the CPU stretches the waits past their budget and the
// batches shrink (quiet 3.9 requests per turn, 1.9 beside the rest of the
// test suite), so the lazy runs are compared with eager ones taken in
// turn with them, under the same load.
func TestLazyWakeBatches(t *testing.T) {
	runtime.LockOSThread() // the service and the helper inherit this thread's affinity
	defer runtime.UnlockOSThread()
	var saved unix.CPUSet
	if err := unix.SchedGetaffinity(0, &saved); err != nil {
		t.Fatal(err)
	}
	cpu := -1
	for i := 0; i < 1024 && cpu < 0; i++ {
		if saved.IsSet(i) {
			cpu = i
		}
	}
	var one unix.CPUSet
	one.Set(cpu)
	if err := unix.SchedSetaffinity(0, &one); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &saved)

	args := []string{"-wait", "adaptive", "-pin"}
	if os.Geteuid() == 0 {
		args = append(args, "-nice", "-10") // D's setting; a raised priority needs root
	}
	sp := startService(t, svcOpts{args: args})
	c := sp.dial(t, client.Options{})
	mp, dir := mountLocal(t, sp, c)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	sleeps := map[bool]int{} // by eager
	for range 3 {
		for _, eager := range []bool{false, true} {
			before := serviceThreadSleeps(t, sp.Pid())
			cmd := helperCmd(t, "stat-goroutines", "KEY="+strconv.Itoa(sp.Key), "MNT="+mp, "GOMAXPROCS=1",
				"EAGER="+strconv.FormatBool(eager))
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("helper: %v\n%s\nservice log:\n%s", err, out, sp.Log)
			}
			sleeps[eager] += serviceThreadSleeps(t, sp.Pid()) - before
		}
	}
	requests := 3 * statGoroutines * statsPerGoroutine
	perTurn := func(eager bool) float64 { return float64(requests) / float64(max(sleeps[eager], 1)) }
	t.Logf("%d stats from %d goroutines on CPU %d, each way: %.1f requests per turn of the service threads with lazy wake-ups, %.1f with eager ones",
		requests, statGoroutines, cpu, perTurn(false), perTurn(true))
	if perTurn(false) < 1.3*perTurn(true) {
		t.Errorf("lazy wake-ups served %.1f requests per turn, eager ones %.1f: want at least 1.3x as many", perTurn(false), perTurn(true))
	}
}

// serviceThreadSleeps sums the voluntary context switches (the times a
// thread blocked: a service thread's sleeps between turns) of the service
// threads (named polysvc-q<queue>, extra ones polysvx-q<queue>) of process
// pid. Preemptions by other load on the CPU are involuntary: not counted.
func serviceThreadSleeps(t *testing.T, pid int) int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil || len(tasks) == 0 {
		t.Fatalf("threads of the service %d: %v", pid, err)
	}
	sum, found := 0, false
	for _, task := range tasks {
		comm, err := os.ReadFile(task + "/comm")
		if err != nil || !strings.HasPrefix(string(comm), "polysv") {
			continue // exited meanwhile, or not a service thread
		}
		status, err := os.ReadFile(task + "/status")
		if err != nil {
			continue
		}
		found = true
		for _, line := range strings.Split(string(status), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && k == "voluntary_ctxt_switches" {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				sum += n
			}
		}
	}
	if !found {
		t.Fatalf("no service thread (polysvc-q*) in process %d", pid)
	}
	return sum
}

// statGoroutinesHelper stats $MNT/f from statGoroutines goroutines,
// statsPerGoroutine times each; $EAGER=true sets Options.EagerWake.
func statGoroutinesHelper() error {
	c, err := helperDial(client.Options{EagerWake: os.Getenv("EAGER") == "true"})
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.FS(os.Getenv("MNT"))
	if err != nil {
		return err
	}
	errs := make(chan error, statGoroutines)
	var wg sync.WaitGroup
	for g := 0; g < statGoroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < statsPerGoroutine; i++ {
				if _, err := v.Stat(context.Background(), "f"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
