package metrics

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// tracePipe is a private ftrace instance (TracingRoot/instances/NAME) with
// some events on, whose trace_pipe lines a reader goroutine hands to a
// parser: the ftrace backend of lockwait and the stealattr collector.
type tracePipe struct {
	dir    string
	events []string // "lock/contention_begin", "sched/sched_switch"
	pipe   *os.File
	done   chan struct{} // closed when the reader returns
	stopCh chan struct{}
}

var ftraceSeq atomic.Int64

// openTracePipe makes the instance (named after what, this process and a
// sequence number), turns the events on and opens the pipe. Start the
// reader with o.goroutine(p.reader(parse)).
func openTracePipe(what string, events ...string) (*tracePipe, error) {
	p := &tracePipe{events: events, done: make(chan struct{}), stopCh: make(chan struct{}),
		dir: filepath.Join(TracingRoot, "instances", fmt.Sprintf("polytropon-%s%d-%d", what, os.Getpid(), ftraceSeq.Add(1)))}
	if err := os.Mkdir(p.dir, 0o700); err != nil {
		return nil, err
	}
	os.WriteFile(filepath.Join(p.dir, "buffer_size_kb"), []byte("8192"), 0)
	// A reader that falls behind makes the writers drop new events (counted
	// in dropped) rather than overwrite the oldest: in overwrite mode every
	// writer that wraps moves the buffer's head page, and a reader taking
	// a page retries, interrupts off, for as long as writers keep moving
	// it. On a slow CPU under a flood of events (the emulated guest of
	// scripts/guest.sh with a Ceph cluster running) that soft-locked the
	// reader's CPU.
	if err := os.WriteFile(filepath.Join(p.dir, "options", "overwrite"), []byte("0"), 0); err != nil {
		p.cleanup()
		return nil, fmt.Errorf("ftrace instance %s: no-overwrite mode: %w", p.dir, err)
	}
	if err := p.enable("1"); err != nil {
		p.cleanup()
		return nil, err
	}
	pipe, err := os.OpenFile(filepath.Join(p.dir, "trace_pipe"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		p.cleanup()
		return nil, err
	}
	p.pipe = pipe
	return p, nil
}

// enable writes v ("1" or "0") to the enable file of every event and
// returns the first error.
func (p *tracePipe) enable(v string) error {
	var first error
	for _, ev := range p.events {
		if err := os.WriteFile(filepath.Join(p.dir, "events", ev, "enable"), []byte(v), 0); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// reader returns the loop that reads the pipe line by line into parse
// until halt.
func (p *tracePipe) reader(parse func(line string)) func() {
	return func() {
		defer close(p.done)
		r := bufio.NewReaderSize(p.pipe, 1<<16)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				parse(line)
			}
			if err != nil {
				select {
				case <-p.stopCh:
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
}

// dropped is how many events the instance's writers dropped so far
// because the reader was behind (the "dropped events" of every CPU's
// stats).
func (p *tracePipe) dropped() uint64 {
	files, _ := filepath.Glob(filepath.Join(p.dir, "per_cpu", "cpu*", "stats"))
	var n uint64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "dropped events:"); ok {
				d, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				n += d
			}
		}
	}
	return n
}

// halt ends the reader; safe to call more than once.
func (p *tracePipe) halt() {
	select {
	case <-p.stopCh:
	default:
		close(p.stopCh)
	}
	p.pipe.SetReadDeadline(time.Now())
}

// cleanup closes the pipe, turns the events off and removes the instance.
func (p *tracePipe) cleanup() {
	if p.pipe != nil {
		p.pipe.Close()
	}
	p.enable("0")
	// The instance can be busy for a moment after the pipe closes.
	for i := 0; i < 50; i++ {
		if err := os.Remove(p.dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
