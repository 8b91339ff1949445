package metrics

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The ftrace fallback of the lockwait collector: a private tracing instance
// with the two lock events, read from trace_pipe.

var ftraceSeq atomic.Int64

type ftraceBackend struct {
	dir   string
	pipe  *os.File
	pools []PoolTarget

	mu     sync.Mutex // guards tot, open, poolOf
	tot    lockTotals
	open   map[int]ftraceBegin // pid -> pending begin
	poolOf map[int]string      // pid -> pool ("" = not a pool's)
	done   chan struct{}
	stopCh chan struct{}
}

type ftraceBegin struct {
	ts    float64
	addr  uint64
	flags uint32
}

func (f *ftraceBackend) name() string { return "ftrace" }

// helperCPU is 0: no helper process; o.goroutine counts the reader.
func (f *ftraceBackend) helperCPU() time.Duration { return 0 }

func startFtrace(ctx context.Context, t Target, o *overhead) (lockBackend, error) {
	dir := filepath.Join(TracingRoot, "instances", fmt.Sprintf("polytropon-%d-%d", os.Getpid(), ftraceSeq.Add(1)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("ftrace: %w", err)
	}
	f := &ftraceBackend{dir: dir, pools: t.Pools, tot: newLockTotals(), open: map[int]ftraceBegin{}, poolOf: map[int]string{},
		done: make(chan struct{}), stopCh: make(chan struct{})}
	fail := func(err error) (lockBackend, error) {
		f.cleanup()
		return nil, fmt.Errorf("ftrace: %w", err)
	}
	os.WriteFile(filepath.Join(dir, "buffer_size_kb"), []byte("8192"), 0)
	// Real lock addresses (for kallsyms), not %p's hashed ones.
	os.WriteFile(filepath.Join(dir, "options", "hash-ptr"), []byte("0"), 0)
	if err := f.enableEvents("1"); err != nil {
		return fail(err)
	}
	pipe, err := os.OpenFile(filepath.Join(dir, "trace_pipe"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fail(err)
	}
	f.pipe = pipe
	o.goroutine(f.read)
	stopOnCancel(ctx, f.done, f.halt)
	return f, nil
}

// enableEvents writes v ("1" or "0") to the enable file of both lock
// events of the instance and returns the first error.
func (f *ftraceBackend) enableEvents(v string) error {
	var first error
	for _, ev := range []string{"contention_begin", "contention_end"} {
		if err := os.WriteFile(filepath.Join(f.dir, "events", "lock", ev, "enable"), []byte(v), 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (f *ftraceBackend) halt() {
	select {
	case <-f.stopCh:
	default:
		close(f.stopCh)
	}
	f.pipe.SetReadDeadline(time.Now())
}

// read parses trace_pipe lines such as
//
//	cat-1234 [001] d..1. 123.456789: contention_begin: 0xffff888100c75ac0 (flags=SPIN)
//	cat-1234 [001] d..1. 123.456800: contention_end: 0xffff888100c75ac0 (ret=0)
func (f *ftraceBackend) read() {
	defer close(f.done)
	r := bufio.NewReaderSize(f.pipe, 1<<16)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			f.parse(line)
		}
		if err != nil {
			select {
			case <-f.stopCh:
				return
			default:
			}
			if errors.Is(err, os.ErrDeadlineExceeded) {
				return
			}
			time.Sleep(10 * time.Millisecond) // EOF/EAGAIN without poll support
		}
	}
}

func (f *ftraceBackend) parse(line string) {
	colon := strings.Index(line, ": contention_")
	if colon < 0 {
		return
	}
	head := strings.Fields(line[:colon])
	if len(head) < 3 {
		return
	}
	task := head[0]
	dash := strings.LastIndexByte(task, '-')
	pid, err := strconv.Atoi(task[dash+1:])
	if err != nil {
		return
	}
	ts, err := strconv.ParseFloat(head[len(head)-1], 64)
	if err != nil {
		return
	}
	rest := line[colon+len(": contention_"):]
	event, args, _ := strings.Cut(rest, ": ")
	addrStr, detail, _ := strings.Cut(strings.TrimSpace(args), " ")
	addr := parseAddr(addrStr)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch event {
	case "begin":
		if _, nested := f.open[pid]; !nested {
			f.open[pid] = ftraceBegin{ts: ts, addr: addr, flags: parseLockFlags(detail)}
		}
	case "end":
		b, ok := f.open[pid]
		if !ok {
			return
		}
		delete(f.open, pid)
		f.tot.add(f.pool(pid), lockKey{b.addr, b.flags}, uint64((ts-b.ts)*1e9+0.5))
	}
}

// pool maps a pid to its pool by its cgroup-v2 path; called with mu held.
func (f *ftraceBackend) pool(pid int) string {
	if p, ok := f.poolOf[pid]; ok {
		return p
	}
	name := ""
	if b, err := os.ReadFile(procPath(strconv.Itoa(pid), "cgroup")); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if rel, ok := strings.CutPrefix(l, "0::"); ok && rel != "/" {
				for _, p := range f.pools {
					if p.CgroupV2 != "" && strings.HasSuffix(p.CgroupV2, rel) {
						name = p.Name
					}
				}
			}
		}
	}
	f.poolOf[pid] = name
	return name
}

// parseLockFlags reads "(flags=SPIN|WRITE)".
func parseLockFlags(s string) uint32 {
	s = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "(flags="), ")")
	var v uint32
	for _, n := range strings.Split(s, "|") {
		switch n {
		case "SPIN":
			v |= lcbSpin
		case "READ":
			v |= lcbRead
		case "WRITE":
			v |= lcbWrite
		case "RT":
			v |= lcbRT
		case "PERCPU":
			v |= lcbPercpu
		case "MUTEX":
			v |= lcbMutex
		default:
			if x, err := strconv.ParseUint(strings.TrimPrefix(n, "0x"), 16, 32); err == nil {
				v |= uint32(x)
			}
		}
	}
	return v
}

func (f *ftraceBackend) stop() (lockTotals, error) {
	f.enableEvents("0")
	// Let the reader drain what is buffered, then stop it.
	time.Sleep(50 * time.Millisecond)
	f.halt()
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
	}
	f.cleanup()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tot, nil
}

func (f *ftraceBackend) cleanup() {
	if f.pipe != nil {
		f.pipe.Close()
	}
	f.enableEvents("0")
	// The instance can be busy for a moment after the pipe closes.
	for i := 0; i < 50; i++ {
		if err := os.Remove(f.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
