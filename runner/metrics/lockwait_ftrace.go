package metrics

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The ftrace fallback of the lockwait collector: a private tracing instance
// with the two lock events, read from trace_pipe.

type ftraceBackend struct {
	tp    *tracePipe
	pools []PoolTarget

	mu     sync.Mutex // guards tot, open, poolOf
	tot    lockTotals
	open   map[int]ftraceBegin // pid -> pending begin
	poolOf map[int]string      // pid -> pool ("" = not a pool's)
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
	tp, err := openTracePipe("", "lock/contention_begin", "lock/contention_end")
	if err != nil {
		return nil, fmt.Errorf("ftrace: %w", err)
	}
	// Real lock addresses (for kallsyms), not %p's hashed ones.
	os.WriteFile(filepath.Join(tp.dir, "options", "hash-ptr"), []byte("0"), 0)
	f := &ftraceBackend{tp: tp, pools: t.Pools, tot: newLockTotals(), open: map[int]ftraceBegin{}, poolOf: map[int]string{}}
	// The lines look like
	//
	//	cat-1234 [001] d..1. 123.456789: contention_begin: 0xffff888100c75ac0 (flags=SPIN)
	//	cat-1234 [001] d..1. 123.456800: contention_end: 0xffff888100c75ac0 (ret=0)
	o.goroutine(tp.reader(f.parse))
	stopOnCancel(ctx, tp.done, tp.halt)
	return f, nil
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
	f.tp.enable("0")
	// Let the reader drain what is buffered, then stop it.
	time.Sleep(50 * time.Millisecond)
	f.tp.halt()
	select {
	case <-f.tp.done:
	case <-time.After(5 * time.Second):
	}
	dropped := f.tp.dropped()
	f.tp.cleanup()
	if dropped > 0 {
		// A lost begin or end loses its wait: the totals would be short.
		return lockTotals{}, fmt.Errorf("metrics: lockwait: ftrace: the reader fell behind and the kernel dropped %d lock events; no totals", dropped)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tot, nil
}
