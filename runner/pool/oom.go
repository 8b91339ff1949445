package pool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// OOM kills: a process the kernel's OOM killer kills for exceeding the
// pool's memory limit shows to its peers only as a broken connection (D's
// service gone: "transport endpoint is not connected"). The pool's memory
// cgroup counts them (oom_kill in memory.oom_control on v1, memory.events
// on v2) and the kernel log names them ("oom-kill:...,oom_memcg=<the
// pool's cgroup>,task=<comm>,pid=<pid>,...").

// OOMKill is one process the OOM killer killed in a pool.
type OOMKill struct {
	PID     int
	Command string // the kernel's comm (15 characters at most)
	What    string // what the process was, when the caller knows ("the agent of ...")
}

// OOMReport is what OOMKills found: how many kills the pool's cgroup
// counted, and the victims the kernel log still names (may be fewer).
type OOMReport struct {
	Kills   int
	Victims []OOMKill
}

// String names the victims, or their count when the log has them no more.
func (r OOMReport) String() string {
	if len(r.Victims) == 0 {
		return fmt.Sprintf("%d process(es) (not named in the kernel log)", r.Kills)
	}
	names := make([]string, len(r.Victims))
	for i, v := range r.Victims {
		names[i] = fmt.Sprintf("%s (pid %d)", v.Command, v.PID)
		if v.What != "" {
			names[i] = fmt.Sprintf("%s (pid %d: %s)", v.Command, v.PID, v.What)
		}
	}
	s := strings.Join(names, ", ")
	if extra := r.Kills - len(r.Victims); extra > 0 {
		s += fmt.Sprintf(" and %d more", extra)
	}
	return s
}

// OOMKills reports the kills of the OOM killer in the pool since it was
// created. It must be called before Destroy (the cgroup goes with it).
func (p *Pool) OOMKills() (OOMReport, error) {
	var file string
	if d := p.cg.v1Paths()["memory"]; d != "" {
		file = filepath.Join(d, "memory.oom_control")
	} else if d := p.cg.v2Path(); d != "" {
		file = filepath.Join(d, "memory.events")
	}
	if file == "" {
		return OOMReport{}, nil
	}
	data, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		return OOMReport{}, nil // no memory controller here
	}
	if err != nil {
		return OOMReport{}, err
	}
	r := OOMReport{Kills: oomKillCount(data)}
	if r.Kills > 0 {
		// The kernel names the cgroup as in its hierarchy, the same
		// relative path on v1 and v2.
		rel := "/" + filepath.Join(p.spec.Group, p.spec.Name)
		r.Victims = oomVictims(readKmsg(), rel, p.created)
	}
	return r, nil
}

// oomKillCount reads the "oom_kill N" line of memory.oom_control (v1) or
// memory.events (v2).
func oomKillCount(data []byte) int {
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) == 2 && f[0] == "oom_kill" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// kmsgRecord is one record of /dev/kmsg: its time (since boot) and text.
type kmsgRecord struct {
	at   time.Duration
	text string
}

// readKmsg returns the records of the kernel log buffer that are still
// there (nil when /dev/kmsg cannot be read: not root, or no such device).
func readKmsg() []kmsgRecord {
	fd, err := unix.Open("/dev/kmsg", unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	defer unix.Close(fd)
	var out []kmsgRecord
	buf := make([]byte, 8192)
	for {
		n, err := unix.Read(fd, buf)
		if errors.Is(err, syscall.EPIPE) {
			continue // overwritten while we read: the next record follows
		}
		if err != nil || n <= 0 {
			return out
		}
		// "prio,seq,usec,flags[,...];text\n continuation lines"
		head, text, ok := bytes.Cut(buf[:n], []byte{';'})
		if !ok {
			continue
		}
		f := strings.Split(string(head), ",")
		if len(f) < 3 {
			continue
		}
		usec, _ := strconv.ParseInt(f[2], 10, 64)
		line, _, _ := bytes.Cut(text, []byte{'\n'})
		out = append(out, kmsgRecord{at: time.Duration(usec) * time.Microsecond, text: string(line)})
	}
}

// oomVictims picks the kernel's "oom-kill:" records of the memory cgroup
// rel (relative to its hierarchy) from since on (time since boot).
func oomVictims(recs []kmsgRecord, rel string, since time.Duration) []OOMKill {
	var out []OOMKill
	for _, r := range recs {
		body, ok := strings.CutPrefix(r.text, "oom-kill:")
		if !ok || r.at < since-time.Second { // printk's clock and CLOCK_MONOTONIC may differ a little
			continue
		}
		kv := map[string]string{}
		for _, part := range strings.Split(body, ",") {
			if k, v, ok := strings.Cut(part, "="); ok {
				kv[k] = v
			}
		}
		if kv["oom_memcg"] != rel {
			continue
		}
		pid, _ := strconv.Atoi(kv["pid"])
		out = append(out, OOMKill{PID: pid, Command: kv["task"]})
	}
	return out
}

// sinceBoot is CLOCK_MONOTONIC, the clock of the kernel log's records.
func sinceBoot() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}
