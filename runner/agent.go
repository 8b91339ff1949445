package runner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"polytropon/systems"
	"polytropon/workloads"
)

// Job is what the runner hands one workload agent: which workload with
// which settings, where (the container), and how long. It travels as one
// JSON line on the agent's stdin.
type Job struct {
	Workload  string            `json:"workload"`
	Params    json.RawMessage   `json:"params"` // the workload's config struct, as JSON
	Container systems.Container `json:"container"`
	Cores     []int             `json:"cores"`
	Pool      int               `json:"pool"`
	Instance  int               `json:"instance"`
	Seed      int64             `json:"seed"`
	OutDir    string            `json:"out_dir"`
	// Phase: "main" or "noise". A noise agent runs until told to stop.
	Phase    string        `json:"phase"`
	Warmup   time.Duration `json:"warmup"`   // unmeasured Run before ready; 0 = none
	Duration time.Duration `json:"duration"` // measured phase; 0 = until the workload ends or stop
}

// Agent protocol. The runner writes the Job line, then later "go" (start
// the measured phase) or "stop" (end it early); EOF on stdin means stop.
// The agent writes JSON event lines on stdout: "ready" once Prepare (and
// the warm-up) is done, then exactly one "result" or "error".
const (
	cmdGo   = "go"
	cmdStop = "stop"
)

// AgentEvent is one line the agent writes on stdout.
type AgentEvent struct {
	Type   string            `json:"type"` // "ready", "result", "error"
	Result *workloads.Result `json:"result,omitempty"`
	Error  string            `json:"error,omitempty"`
	// NothingToDo marks a workload that had no work (not a failure).
	NothingToDo bool `json:"nothing_to_do,omitempty"`
	// Stopped marks a workload told to stop ("stop", e.g. noise after the
	// main workloads) that ended with a context error and no result.
	Stopped bool `json:"stopped,omitempty"`
}

// RunAgent is the body of the hidden `polytropon _agent` subcommand: it runs
// one workload instance inside a container of a pool, following the agent
// protocol on in and out. Failures are reported as an "error" event and
// returned.
func RunAgent(ctx context.Context, in io.Reader, out io.Writer) error {
	enc := json.NewEncoder(out)
	fail := func(err error) error {
		ev := AgentEvent{Type: "error", Error: err.Error()}
		if errors.Is(err, workloads.ErrNothingToDo) {
			ev = AgentEvent{Type: "result", NothingToDo: true, Result: &workloads.Result{}}
		}
		if eerr := enc.Encode(ev); eerr != nil {
			return errors.Join(err, eerr)
		}
		return err
	}
	lines := bufio.NewScanner(in)
	lines.Buffer(make([]byte, 64<<10), 16<<20)
	if !lines.Scan() {
		return fail(fmt.Errorf("runner: agent: no job on stdin: %v", lines.Err()))
	}
	var job Job
	if err := json.Unmarshal(lines.Bytes(), &job); err != nil {
		return fail(fmt.Errorf("runner: agent: bad job: %w", err))
	}
	w, err := workloads.New(job.Workload)
	if err != nil {
		return fail(err)
	}
	if len(job.Params) > 0 {
		if err := json.Unmarshal(job.Params, w); err != nil {
			return fail(fmt.Errorf("runner: agent: params of %s: %w", job.Workload, err))
		}
	}
	if err := w.Validate(); err != nil {
		return fail(fmt.Errorf("runner: agent: %s: %w", job.Workload, err))
	}
	if c, ok := w.(workloads.Cleaner); ok {
		defer func() {
			if err := c.Cleanup(); err != nil {
				fmt.Fprintf(os.Stderr, "runner: agent: cleaning up after %s: %v\n", job.Workload, err)
			}
		}()
	}
	svc, err := systems.OpenFS(ctx, job.Container)
	if err != nil {
		return fail(err)
	}
	defer svc.Close()
	env := &workloads.Env{
		Dir: job.Container.Dir, FS: svc, ProcEnv: job.Container.ProcEnv, Cores: job.Cores,
		Pool: job.Pool, Instance: job.Instance, Seed: job.Seed, OutDir: job.OutDir,
	}

	// Commands from the runner: the first "go" starts the measured phase;
	// "stop" or EOF ends everything.
	goCh := make(chan struct{})
	stopCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		started := false
		for lines.Scan() {
			switch lines.Text() {
			case cmdGo:
				if !started {
					started = true
					close(goCh)
				}
			case cmdStop:
				stop()
				return
			}
		}
		stop()
	}()

	if err := w.Prepare(stopCtx, env); err != nil {
		return fail(fmt.Errorf("runner: agent: prepare %s: %w", job.Workload, err))
	}
	if job.Warmup > 0 {
		wctx, cancel := context.WithTimeout(stopCtx, job.Warmup)
		_, err := w.Run(wctx, env)
		cancel()
		if err != nil && wctx.Err() == nil && !errors.Is(err, workloads.ErrNothingToDo) {
			return fail(fmt.Errorf("runner: agent: warm-up %s: %w", job.Workload, err))
		}
	}
	if err := enc.Encode(AgentEvent{Type: "ready"}); err != nil {
		return err
	}
	select {
	case <-goCh:
	case <-stopCtx.Done():
		return fail(fmt.Errorf("runner: agent: stopped before go: %w", context.Cause(stopCtx)))
	}
	runCtx := stopCtx
	if job.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithTimeout(stopCtx, job.Duration)
		defer cancel()
	}
	res, err := w.Run(runCtx, env)
	if err != nil && res == nil && stopCtx.Err() != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
		// Told to stop (noise after main): not a failure, but nothing to report.
		return enc.Encode(AgentEvent{Type: "result", Stopped: true})
	}
	if err != nil && !(res != nil && runCtx.Err() != nil) {
		// An error after the window closed, with a result in hand, is the
		// workload noticing the deadline: keep the result.
		return fail(fmt.Errorf("runner: agent: run %s: %w", job.Workload, err))
	}
	if res == nil {
		return fail(fmt.Errorf("runner: agent: %s returned no result", job.Workload))
	}
	return enc.Encode(AgentEvent{Type: "result", Result: res})
}
