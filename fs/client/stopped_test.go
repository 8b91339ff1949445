package client_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/fs/service/servicetest"
)

// steadyHelper is an honest client process: $THREADS goroutines write
// and read back their own block of a file on $MNT until $DUR passes, then
// it prints how many requests were answered and how many failed, by
// errno. A wrong read or an error that is no errno fails it.
func steadyHelper() error {
	c, err := helperDial(client.Options{})
	if err != nil {
		return err
	}
	defer c.Close()
	dur, err := time.ParseDuration(os.Getenv("DUR"))
	if err != nil {
		return err
	}
	threads, _ := strconv.Atoi(os.Getenv("THREADS"))
	fd, err := c.OpenFd(os.Getenv("MNT")+"/steady", syscall.O_CREAT|syscall.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	fmt.Println("ready")
	var (
		mu     sync.Mutex
		ok     int
		errs   = map[string]int{}
		failed error
		wg     sync.WaitGroup
	)
	end := time.Now().Add(dur)
	for g := 0; g < threads; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			want := bytes.Repeat([]byte{byte('a' + g)}, 512)
			got := make([]byte, len(want))
			for i := 0; time.Now().Before(end); i++ {
				var err error
				if i%2 == 0 {
					_, err = c.PwriteFd(fd, want, int64(g)*512)
				} else if _, err = c.PreadFd(fd, got, int64(g)*512); err == nil && !bytes.Equal(got, want) {
					err = fmt.Errorf("goroutine %d read %q, want its own block", g, got[:8])
				}
				mu.Lock()
				var e syscall.Errno
				switch {
				case err == nil:
					ok++
				case errors.As(err, &e):
					errs[e.Error()]++
				case failed == nil:
					failed = err
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	fmt.Printf("answered %d errors %v\n", ok, errs)
	return c.CloseFd(fd)
}

// TestStoppedClientNotFailed: an honest client process stopped with
// SIGSTOP for 600 ms at a time, anywhere in its requests (between taking
// a queue ticket and filling it, between its submission and its enqueue,
// asleep on its answer), is not taken for a hostile one: when it runs
// again every request of it is answered (no EIO), the queue it shares
// with another client is not quarantined, nothing is logged as an
// incident, and the other client is answered meanwhile.
func TestStoppedClientNotFailed(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-queues", "1"}})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	v, _ := c.FS(mp)
	ctx := context.Background()
	w := openSeg(t, sp.Key)
	_, qst, _ := w.QueueMem(0)
	gen := qst.Generation()

	// Longer than the service ever waited before it took a stall or a
	// waiting request for a fault (300 and 500 ms); eight busy threads,
	// so that a stop often catches one inside its enqueue.
	const stops, stopFor = 10, 600 * time.Millisecond
	cmd := helperCmd(t, "steady", "KEY="+strconv.Itoa(sp.Key), "MNT="+mp, "THREADS=8",
		"DUR="+(stops*(stopFor+100*time.Millisecond)+time.Second).String())
	var errOut servicetest.Log
	cmd.Stderr = &errOut
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGCONT)
		cmd.Process.Kill()
		cmd.Wait()
	}()
	rd := bufio.NewReader(stdout)
	if line, err := rd.ReadString('\n'); err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("the honest client: %q %v\n%s", line, err, &errOut)
	}
	var slowest time.Duration
	for i := 0; i < stops; i++ {
		time.Sleep(time.Duration(20+i*11) * time.Millisecond) // somewhere in its requests
		if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		for start := time.Now(); time.Since(start) < stopFor; {
			t0 := time.Now()
			if _, err := v.Stat(ctx, "."); err != nil {
				t.Fatalf("stop %d: the other client: %v", i, err)
			}
			slowest = max(slowest, time.Since(t0))
			time.Sleep(time.Millisecond)
		}
		if err := cmd.Process.Signal(syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	outc := make(chan string, 1)
	go func() { line, _ := rd.ReadString('\n'); outc <- line }()
	var out string
	select {
	case out = <-outc:
	case <-time.After(30 * time.Second):
	}
	if err := waitTimeout(cmd, 5*time.Second); err != nil || out == "" {
		t.Fatalf("the honest client: %v, output %q\n%s\nservice log:\n%s", err, out, &errOut, sp.Log)
	}
	var answered int
	if _, err := fmt.Sscanf(out, "answered %d errors map[]", &answered); err != nil || answered == 0 {
		t.Errorf("the honest client, stopped %d times: %q, want every request answered, no errors\nservice log:\n%s", stops, out, sp.Log)
	}
	if g := qst.Generation(); g != gen {
		t.Errorf("the queue was quarantined: generation %d -> %d\nservice log:\n%s", gen, g, sp.Log)
	}
	if log := sp.Log.String(); strings.Contains(log, "back: ") {
		t.Errorf("incidents logged for an honest client:\n%s", log)
	}
	// A stopped enqueuer costs the others at most the service's 40 ms
	// per ticket; the bound leaves room for a loaded host.
	if slowest > 3*time.Second {
		t.Errorf("the other client's slowest request took %v, over 3 s", slowest)
	}
	t.Logf("the honest client, stopped %d times for %v: %s; the other client's slowest request %v", stops, stopFor, strings.TrimSpace(out), slowest)
}
