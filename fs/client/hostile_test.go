package client_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/client"
	"polytropon/fs/wire"
	"polytropon/fs/wire/wiretest"
	"polytropon/ipc/shm"
)

// The long version of TestHostileTenant (docs/service.md records a run),
// with the bound of 1 s on every legitimate request:
//
//	go test ./fs/client -run TestHostileTenant -v -count 1 -hostile.rounds 20 -hostile.round 1s -hostile.bound 1s
var (
	hostileRounds = flag.Int("hostile.rounds", 3, "TestHostileTenant: rounds of scribbling")
	hostileRound  = flag.Duration("hostile.round", 400*time.Millisecond, "TestHostileTenant: length of a round")
	// The design's bound is 600 ms (docs/service.md, "Budgets"); the CI
	// version runs on a loaded host, whose scheduling delays add to it.
	hostileBound = flag.Duration("hostile.bound", 3*time.Second, "TestHostileTenant: bound on every legitimate request (the recorded run passes 1s)")
	hostilePause = flag.Duration("hostile.pause", 2*time.Millisecond, "TestHostileTenant: pause between bursts of 1000 scribbles")
)

// scribbleHelper is the hostile tenant: a process of the pool that
// attaches the service's segment and writes random and adversarial values
// into its shared fields (wiretest) for $DUR, in bursts of 1000 with
// $PAUSE between them, then prints how many writes hit each kind of
// structure.
func scribbleHelper() error {
	key, _ := strconv.Atoi(os.Getenv("KEY"))
	dur, err := time.ParseDuration(os.Getenv("DUR"))
	if err != nil {
		return err
	}
	pause, _ := time.ParseDuration(os.Getenv("PAUSE"))
	seed, _ := strconv.ParseUint(os.Getenv("SEED"), 10, 64)
	seg, err := shm.Open(key)
	if err != nil {
		return err
	}
	defer seg.Detach()
	w, err := wire.Open(seg.Bytes())
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var counts [wiretest.NumKinds]uint64
	for end := time.Now().Add(dur); time.Now().Before(end); time.Sleep(pause) {
		for i := 0; i < 1000; i++ {
			s := wiretest.Random(rng, w.Layout)
			wiretest.Apply(w, s)
			counts[s.Kind]++
		}
	}
	fmt.Println("counts", strings.Trim(fmt.Sprint(counts), "[]"))
	return nil
}

// legitStats are the legitimate clients' results during the rounds.
type legitStats struct {
	mu     sync.Mutex
	ok     int
	errs   map[string]int
	max    time.Duration
	maxOp  string
	slow   []string // requests over the bound
	bound  time.Duration
	failed error
}

func (s *legitStats) record(op string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.ok++
	} else {
		var e syscall.Errno
		switch {
		case op == "dial": // no errno: front.ErrNoService and the like
			s.errs["dial failed"]++
		case !errors.As(err, &e):
			if s.failed == nil {
				s.failed = fmt.Errorf("%s: %v is not an errno", op, err)
			}
			return
		default:
			s.errs[e.Error()]++
		}
	}
	if d > s.max {
		s.max, s.maxOp = d, op
	}
	if d > s.bound {
		s.slow = append(s.slow, fmt.Sprintf("%s took %v (%v)", op, d, err))
	}
}

// TestHostileTenant: while legitimate clients work, another process of
// the pool scribbles the service's segment (descriptors and their ranges,
// queue headers, heads/tails, slots, generation words; wiretest). After
// each round: the service lives, nothing outside the instance root was
// touched, every legitimate request got a result or an errno within the
// bound (-hostile.bound), and a fresh client is served again within 3 s (the service
// recovered by itself). The counts are logged.
func TestHostileTenant(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-queues", "2"}})
	ctx := context.Background()
	// The mount is made and removed by clients of their own: the
	// scribbles may break the legitimate clients' sessions.
	dir := sp.newDir(t)
	mp := nextMount("/h")
	if _, err := sp.dial(t, client.Options{}).Mount(mp, "local", "dir="+dir, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if c, err := client.Dial(ctx, client.Options{Key: sp.Key}); err == nil {
			c.Umount(mp)
			c.Close()
		}
	})
	secret := filepath.Join(filepath.Dir(dir), "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	listing := func() []string {
		ents, _ := os.ReadDir(sp.base)
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}
	before := listing()
	start := time.Now()
	// The budgets on a request's path through a damaged segment add up
	// to 600 ms (docs/service.md); the bound is the 1 s in the
	// recorded run, looser on a loaded CI host. The slowest is logged.
	stats := &legitStats{errs: map[string]int{}, bound: *hostileBound}
	var total [wiretest.NumKinds]uint64
	for round := 0; round < *hostileRounds; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := 0; g < 2; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				legitWork(ctx, sp.Key, mp, g, stop, stats)
			}()
		}
		cmd := helperCmd(t, "scribble", "KEY="+strconv.Itoa(sp.Key), "DUR="+hostileRound.String(),
			"PAUSE="+hostilePause.String(), fmt.Sprintf("SEED=%d", round+1))
		out, err := cmd.CombinedOutput()
		close(stop)
		if !waitGroupFor(&wg, 10*time.Second) {
			t.Fatalf("round %d: legitimate clients still waiting 10s after the scribbler left; buffers:\n%s\nservice log:\n%s", round, bufferStates(t, sp.Key), sp.Log)
		}
		if err != nil {
			t.Fatalf("round %d: the scribbler: %v\n%s", round, err, out)
		}
		var n [wiretest.NumKinds]uint64
		if _, err := fmt.Sscan(strings.TrimPrefix(strings.TrimSpace(string(out)), "counts "), &n[0], &n[1], &n[2], &n[3], &n[4]); err != nil {
			t.Fatalf("round %d: scribbler output %q: %v", round, out, err)
		}
		for k := range n {
			total[k] += n[k]
		}
		if err := syscall.Kill(sp.Pid(), 0); err != nil {
			t.Fatalf("round %d: the service died: %v\n%s", round, err, sp.Log)
		}
		if err := recovered(ctx, sp, dir); err != nil {
			t.Fatalf("round %d: the service did not recover within 3s: %v\nlog:\n%s", round, err, sp.Log)
		}
	}
	stats.mu.Lock()
	defer stats.mu.Unlock()
	if stats.failed != nil {
		t.Error(stats.failed)
	}
	if len(stats.slow) > 0 {
		t.Errorf("%d legitimate requests over %v: %s", len(stats.slow), stats.bound, strings.Join(stats.slow[:min(5, len(stats.slow))], "; "))
	}
	if b, err := os.ReadFile(secret); err != nil || string(b) != "s3cret" {
		t.Errorf("the file next to the instance root: %q, %v", b, err)
	}
	if after := listing(); !slices.Equal(before, after) {
		t.Errorf("entries next to the instance root changed: %v -> %v", before, after)
	}
	log := sp.Log.String()
	lines := strings.Count(log, "\n")
	// Per structure (2 queues, 32 buffers, dropped items, rejected
	// requests) a first line and one per 10 s, plus 20 lines each of
	// dropped items and rejected requests: never a line per scribble.
	if limit := 40 + (2+32+2)*(1+int(time.Since(start)/(10*time.Second))); lines > limit {
		t.Errorf("the service logged %d lines (limit %d)", lines, limit)
	}
	desc := total[wiretest.KindDesc] + total[wiretest.KindDescRange]
	var parts []string
	for k, name := range wiretest.KindNames {
		parts = append(parts, fmt.Sprintf("%s %d", name, total[k]))
	}
	t.Logf("hostile tenant: %d rounds of %v: %d mutated descriptors; %s", *hostileRounds, *hostileRound, desc, strings.Join(parts, ", "))
	t.Logf("legitimate requests: %d answered, errors %v, slowest %v (%s); service log: %d lines, %d queue quarantine lines",
		stats.ok, stats.errs, stats.max, stats.maxOp, lines, strings.Count(log, "back: queue"))
}

// legitWork runs single-request operations on the mount until stop is
// closed, recording each one's result and latency. A client whose session
// the scribbles broke (its slot or buffers no longer its own, or a
// connection given up) dials again, as a restarted program would.
func legitWork(ctx context.Context, key int, mp string, g int, stop chan struct{}, s *legitStats) {
	name := fmt.Sprintf("w%d", g)
	payload := bytes.Repeat([]byte{byte('a' + g)}, 4096)
	var (
		c   *client.Client
		v   *client.FS
		f   fs.File
		err error
	)
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		t0 := time.Now()
		var op string
		switch {
		case c == nil:
			op = "dial"
			if c, err = client.Dial(ctx, client.Options{Key: key}); err == nil {
				if v, err = c.FS(mp); err != nil {
					c.Close()
					c = nil
				}
			} else {
				c = nil
			}
		case f == nil:
			op = "open"
			f, err = v.Open(ctx, name, syscall.O_CREAT|syscall.O_RDWR, 0o644)
			if err != nil {
				f = nil
			}
		case i%3 == 0:
			op = "pwrite"
			_, err = f.Pwrite(payload, 0)
		case i%3 == 1:
			op = "pread"
			_, err = f.Pread(make([]byte, len(payload)), 0)
		default:
			op = "stat"
			_, err = v.Stat(ctx, name)
		}
		if errors.Is(err, syscall.EBADSLT) || errors.Is(err, syscall.ENOTCONN) {
			// A dial the scribbler spoiled fails with these too, and
			// leaves no client to close.
			if c != nil {
				c.Close()
			}
			c, f = nil, nil
		} else if err != nil && f != nil && i%16 == 0 {
			f = nil // start over with a fresh open now and then
		}
		s.record(op, time.Since(t0), err)
	}
}

// recovered reports whether a fresh client of the service is served
// (write, read back, stat in the instance at dir) within 3 s.
func recovered(ctx context.Context, sp *svcProc, dir string) error {
	var last error
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		last = func() error {
			c, err := client.Dial(ctx, client.Options{Key: sp.Key})
			if err != nil {
				return err
			}
			defer c.Close()
			mp := nextMount("/r")
			if _, err := c.Mount(mp, "local", "dir="+dir, false); err != nil {
				return err
			}
			defer c.Umount(mp)
			v, err := c.FS(mp)
			if err != nil {
				return err
			}
			f, err := v.Open(ctx, "check", syscall.O_CREAT|syscall.O_RDWR, 0o644)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := f.Pwrite([]byte("fresh"), 0); err != nil {
				return err
			}
			b := make([]byte, 5)
			if n, err := f.Pread(b, 0); err != nil || string(b[:n]) != "fresh" {
				return fmt.Errorf("read back %q, %v", b[:n], err)
			}
			_, err = v.Stat(ctx, "check")
			return err
		}()
		if last == nil {
			return nil
		}
	}
	return last
}

// waitGroupFor waits for wg up to d.
func waitGroupFor(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// bufferStates describes the segment's descriptors and queues (diagnostics).
func bufferStates(t *testing.T, key int) string {
	seg, err := shm.Open(key)
	if err != nil {
		return err.Error()
	}
	defer seg.Detach()
	w, err := wire.Open(seg.Bytes())
	if err != nil {
		return err.Error()
	}
	var sb strings.Builder
	for i := uint32(0); i < w.Layout.NumBuffers; i++ {
		b, _ := w.Buffer(i)
		fmt.Fprintf(&sb, "buffer %d: owner %d state %d done %v waiter %d queue %d\n", i, b.Owner(), b.State(), b.Completed(), b.Waiter(), b.Queue())
	}
	for q := uint32(0); q < w.Layout.NumQueues; q++ {
		mem, st, _ := w.QueueMem(q)
		fmt.Fprintf(&sb, "queue %d: gen %d header %x\n", q, st.Generation(), mem[:24])
	}
	return sb.String()
}

// TestQueueRebuiltClientReattaches: the real service quarantines a queue
// whose header a pool process scribbled, logs it once, and a client that
// was connected before is served again on the rebuilt queue (it attaches
// the new generation by itself).
func TestQueueRebuiltClientReattaches(t *testing.T) {
	sp := startService(t, svcOpts{args: []string{"-queues", "1"}})
	c := sp.dial(t, client.Options{})
	mp, _ := mountLocal(t, sp, c)
	v, _ := c.FS(mp)
	ctx := context.Background()
	if _, err := v.Stat(ctx, "."); err != nil {
		t.Fatal(err)
	}
	w := openSeg(t, sp.Key)
	_, st, _ := w.QueueMem(0)
	gen := st.Generation()
	start := time.Now()
	for i := 0; i < 3; i++ { // three scribbles, each repaired before the next
		wiretest.Apply(w, wiretest.At(wiretest.KindQueueHead, 0, 0, true, 0xbad))
		if !waitFor(5*time.Second, func() bool { return st.Generation() != gen }) {
			t.Fatalf("scribble %d: queue 0 not rebuilt; log:\n%s", i, sp.Log)
		}
		gen = st.Generation()
		if _, err := v.Stat(ctx, "."); err != nil {
			t.Fatalf("scribble %d: the connected client after the rebuild: %v", i, err)
		}
	}
	// The first quarantine is logged; a count follows at most every 10 s.
	if n, most := strings.Count(sp.Log.String(), "back: queue 0"), 1+int(time.Since(start)/(10*time.Second)); n < 1 || n > most {
		t.Errorf("%d log lines about queue 0 for 3 quarantines, want 1 to %d:\n%s", n, most, sp.Log)
	}
}
