package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/systems"
	"polytropon/workloads"
)

// agentPeer drives RunAgent in-process over pipes, like the runner does
// across the pool boundary.
type agentPeer struct {
	in     *io.PipeWriter
	events *bufio.Scanner
	done   chan error
}

func startLocalAgent(t *testing.T, job string) *agentPeer {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &agentPeer{in: inW, events: bufio.NewScanner(outR), done: make(chan error, 1)}
	p.events.Buffer(nil, 64<<20)
	go func() {
		err := RunAgent(context.Background(), inR, outW)
		outW.Close()
		p.done <- err
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	go io.WriteString(inW, job+"\n")
	return p
}

func (p *agentPeer) next(t *testing.T) AgentEvent {
	t.Helper()
	if !p.events.Scan() {
		t.Fatalf("agent closed stdout without an event: %v", p.events.Err())
	}
	var ev AgentEvent
	if err := json.Unmarshal(p.events.Bytes(), &ev); err != nil {
		t.Fatalf("bad event %q: %v", p.events.Text(), err)
	}
	return ev
}

func fileserverJob(t *testing.T, dir string, duration time.Duration) string {
	t.Helper()
	w, err := workloads.New("fileserver")
	if err != nil {
		t.Skip(err)
	}
	// Small settings, through the same JSON path the runner uses.
	if err := json.Unmarshal([]byte(`{"NFiles": 20, "NThreads": 2, "FileSize": "4KiB", "IOSize": "4KiB"}`), w); err != nil {
		t.Fatalf("fileserver params from JSON: %v", err)
	}
	params, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	job, err := json.Marshal(Job{Workload: "fileserver", Params: params, Phase: "main", Duration: duration, Seed: 7,
		Container: systems.Container{Dir: dir, FS: systems.FSSpec{Kind: systems.HostKind}}})
	if err != nil {
		t.Fatal(err)
	}
	return string(job)
}

func TestAgentProtocol(t *testing.T) {
	p := startLocalAgent(t, fileserverJob(t, t.TempDir(), 300*time.Millisecond))
	if ev := p.next(t); ev.Type != "ready" {
		t.Fatalf("first event: got %+v, want ready", ev)
	}
	io.WriteString(p.in, cmdGo+"\n")
	ev := p.next(t)
	if ev.Type != "result" || ev.Result == nil || ev.Result.Ops == 0 || ev.Result.Latency["all"].Count() != ev.Result.Ops {
		t.Fatalf("result event: got %+v, want ops with an \"all\" histogram of the same count", ev)
	}
	// The agent bounds the run by the job's duration: it neither returns at
	// once nor runs on. (The workload starts its clock a little after the
	// deadline is set, so Elapsed may fall a few ms short of 300ms.)
	if ev.Result.Elapsed < 250*time.Millisecond || ev.Result.Elapsed > 5*time.Second {
		t.Errorf("elapsed %v, want about the 300ms duration", ev.Result.Elapsed)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("agent: %v", err)
	}
}

func TestAgentStopEndsRun(t *testing.T) {
	p := startLocalAgent(t, fileserverJob(t, t.TempDir(), 0)) // noise-style: until stopped
	if ev := p.next(t); ev.Type != "ready" {
		t.Fatalf("first event: got %+v, want ready", ev)
	}
	io.WriteString(p.in, cmdGo+"\n")
	time.Sleep(200 * time.Millisecond)
	io.WriteString(p.in, cmdStop+"\n")
	evc := make(chan AgentEvent, 1)
	go func() { evc <- p.next(t) }()
	select {
	case ev := <-evc:
		if ev.Type != "result" || ev.Result.Ops == 0 {
			t.Fatalf("after stop: got %+v, want a result with ops", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("agent ignored stop")
	}
	if err := <-p.done; err != nil {
		t.Fatalf("agent: %v", err)
	}
}

func TestAgentErrors(t *testing.T) {
	for name, tc := range map[string]struct{ job, want string }{
		"not json":         {`{nope`, "bad job"},
		"unknown workload": {`{"workload": "nosuch"}`, "unknown workload"},
		"bad params":       {`{"workload": "fileserver", "params": {"NThreads": -3}}`, "nthreads"},
		"unknown opener":   {`{"workload": "fileserver", "container": {"dir": "/tmp", "fs": {"kind": "nosuch"}}}`, `unknown fs kind "nosuch"`},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := workloads.New("fileserver"); err != nil {
				t.Skip(err)
			}
			p := startLocalAgent(t, tc.job)
			ev := p.next(t)
			if ev.Type != "error" || !strings.Contains(ev.Error, tc.want) {
				t.Fatalf("got %+v, want an error event mentioning %q", ev, tc.want)
			}
			if err := <-p.done; err == nil {
				t.Fatal("RunAgent returned nil after an error event")
			}
		})
	}
}

func TestAgentStopBeforeGo(t *testing.T) {
	p := startLocalAgent(t, fileserverJob(t, t.TempDir(), time.Second))
	if ev := p.next(t); ev.Type != "ready" {
		t.Fatalf("first event: got %+v, want ready", ev)
	}
	p.in.Close() // the runner died or gave up: EOF means stop
	if ev := p.next(t); ev.Type != "error" || !strings.Contains(ev.Error, "before go") {
		t.Fatalf("got %+v, want an error saying it stopped before go", ev)
	}
	<-p.done
}

// TestAgentStoppedNoise: a noise workload told to stop is not a failure and
// reports what it did until then (stress-ng, asked to stop with SIGINT,
// still writes its report).
func TestAgentStoppedNoise(t *testing.T) {
	testenv.RequireTool(t, "stress-ng", "stress-ng")
	job, err := json.Marshal(Job{Workload: "randomio", Params: json.RawMessage(`{"Workers": 1, "Bytes": "8MiB"}`), Phase: "noise",
		Container: systems.Container{Dir: t.TempDir(), FS: systems.FSSpec{Kind: systems.HostKind}}})
	if err != nil {
		t.Fatal(err)
	}
	p := startLocalAgent(t, string(job))
	if ev := p.next(t); ev.Type != "ready" {
		t.Fatalf("first event: got %+v, want ready", ev)
	}
	io.WriteString(p.in, cmdGo+"\n")
	// Stop only once stress-ng has written two of its files' worth: a fixed
	// sleep may end before stress-ng has even started on a loaded machine.
	waitStressWrote(t, 16<<20, 60*time.Second)
	io.WriteString(p.in, cmdStop+"\n")
	ev := p.next(t)
	if ev.Type != "result" || ev.Result == nil || ev.Result.Ops <= 0 {
		t.Fatalf("after stop: got %+v, want the result measured until the stop", ev)
	}
	if err := <-p.done; err != nil {
		t.Fatalf("agent: %v", err)
	}
}

// waitStressWrote waits until the stress-ng processes below this test have
// passed n bytes to write(2) (stress-ng's hdd stressor unlinks its files at
// once, so their sizes cannot be watched).
func waitStressWrote(t *testing.T, n int64, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		wrote := stressWrote(os.Getpid())
		if wrote >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stress-ng wrote %d bytes in %v, want %d: the workload did not start", wrote, limit, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stressWrote sums wchar of the stress-ng processes descending from root.
func stressWrote(root int) int64 {
	parent := map[int]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, st := range procs {
		b, err := os.ReadFile(st)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		s := string(b)
		var pid, ppid int
		var state string
		fmt.Sscanf(s, "%d", &pid)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			fmt.Sscanf(s[i+1:], " %s %d", &state, &ppid)
		}
		parent[pid] = ppid
	}
	var total int64
	for pid := range parent {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if !strings.HasPrefix(string(comm), "stress-ng") {
			continue
		}
		for a := parent[pid]; a > 1; a = parent[a] {
			if a == root {
				stats, _ := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
				for _, line := range strings.Split(string(stats), "\n") {
					var v int64
					if _, err := fmt.Sscanf(line, "wchar: %d", &v); err == nil {
						total += v
					}
				}
				break
			}
		}
	}
	return total
}
