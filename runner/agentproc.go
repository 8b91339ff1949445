package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"polytropon/runner/pool"
)

// agentProc is the runner's side of one workload agent running in a pool.
type agentProc struct {
	label   string // "fileserver#0 pool 1 container 0", for messages
	logPath string
	outDir  string // the instance's raw-output directory (Env.OutDir)
	proc    *pool.Process
	stdin   *os.File // write end of the agent's stdin
	events  chan AgentEvent
	readErr chan error // the stdout reader's final error (nil on EOF)
}

// startAgent starts `<bin> _agent` inside p and sends it the job.
func startAgent(ctx context.Context, p *pool.Pool, bin, label, logPath string, job *Job) (*agentProc, error) {
	jobLine, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("runner: job for %s: %w", label, err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, err
	}
	argv0 := bin
	if bin == selfExe {
		argv0 = "polytropon"
	}
	proc, err := p.Start(ctx, pool.Cmd{Path: bin, Args: []string{argv0, "_agent"}, Stdin: inR, Stdout: outW, Stderr: logf})
	// The agent holds its own copies of its pipe ends now.
	inR.Close()
	outW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		return nil, fmt.Errorf("runner: starting agent %s in pool %s: %w", label, p.Name(), err)
	}
	a := &agentProc{label: label, logPath: logPath, proc: proc, stdin: inW, events: make(chan AgentEvent, 4), readErr: make(chan error, 1)}
	go a.read(outR)
	if _, err := inW.Write(append(jobLine, '\n')); err != nil {
		a.kill()
		return nil, fmt.Errorf("runner: sending job to agent %s: %w", label, err)
	}
	return a, nil
}

func (a *agentProc) read(r *os.File) {
	defer r.Close()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 64<<20) // results carry histograms
	for sc.Scan() {
		var ev AgentEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			a.readErr <- fmt.Errorf("bad event line %q: %w", truncate(sc.Text(), 200), err)
			close(a.events)
			return
		}
		a.events <- ev
	}
	a.readErr <- sc.Err()
	close(a.events)
}

// next waits for the agent's next event.
func (a *agentProc) next(ctx context.Context) (AgentEvent, error) {
	select {
	case ev, ok := <-a.events:
		if !ok {
			err := <-a.readErr
			a.readErr <- err // keep it for later callers
			werr := a.waitExit(2 * time.Second)
			return AgentEvent{}, fmt.Errorf("%w: %s ended without a result (exit: %v, read: %v)%s", ErrAgent, a.label, werr, err, a.logTail())
		}
		if ev.Type == "error" {
			return ev, fmt.Errorf("%w: %s: %s%s", ErrAgent, a.label, ev.Error, a.logTail())
		}
		return ev, nil
	case <-ctx.Done():
		return AgentEvent{}, context.Cause(ctx)
	}
}

// send writes one protocol command; a dead agent is noticed by next.
func (a *agentProc) send(cmd string) {
	a.stdin.Write([]byte(cmd + "\n"))
}

// stop asks the agent to end (closing stdin is the same as "stop").
func (a *agentProc) stop() {
	a.send(cmdStop)
	a.stdin.Close()
}

// waitExit waits up to d for the agent process to exit.
func (a *agentProc) waitExit(d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- a.proc.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		return fmt.Errorf("still running after %v", d)
	}
}

// kill ends the agent now and reaps it (bounded).
func (a *agentProc) kill() {
	a.stdin.Close()
	if err := a.proc.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return // the engine is gone; Destroy of the pool reaps the rest
	}
	a.waitExit(5 * time.Second)
}

// finish stops the agent gracefully, then forcibly after grace.
func (a *agentProc) finish(grace time.Duration) {
	a.stop()
	if a.waitExit(grace) != nil && !a.proc.Exited() {
		a.kill()
	}
}

func (a *agentProc) logTail() string {
	data, err := os.ReadFile(a.logPath)
	if err != nil || len(strings.TrimSpace(string(data))) == 0 {
		return ""
	}
	return "\n  agent log " + a.logPath + ":\n    " + strings.ReplaceAll(truncateTail(strings.TrimSpace(string(data)), 1500), "\n", "\n    ")
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func truncateTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
