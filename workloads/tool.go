package workloads

// Running external programs (db_bench, stress-ng, sysbench, lighttpd): find
// them, run them in Env.Dir with Env.ProcEnv in their environment, each in
// its own process group that is killed as a whole when ctx ends or the
// program exits, so no child outlives a run.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"polytropon/internal/hostcheck"
)

// findTool returns the path of program (found in $PATH or in the sbin
// directories: lighttpd lives in /usr/sbin), or an error wrapping
// ErrToolMissing that names the Debian package.
func findTool(program hostcheck.Program) (string, error) {
	path, err := program.Find()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrToolMissing, err)
	}
	return path, nil
}

// ToolUser is a workload that runs external programs.
type ToolUser interface {
	// Tools are the programs the workload runs.
	Tools() []hostcheck.Program
}

// Tools lists the external programs the named workload runs (nil for a
// native Go workload or an unknown name).
func Tools(name string) []hostcheck.Program {
	w, err := New(name)
	if err != nil {
		return nil
	}
	if tu, ok := w.(ToolUser); ok {
		return tu.Tools()
	}
	return nil
}

// CheckTools reports, wrapping ErrToolMissing, the first external program
// of the named workload that this host lacks.
func CheckTools(name string) error {
	for _, p := range Tools(name) {
		if _, err := findTool(p); err != nil {
			return fmt.Errorf("workload %s: %w", name, err)
		}
	}
	return nil
}

// toolStarted, when set (by tests), sees every started tool process.
var toolStarted func(pid int)

// toolCommand prepares path with args to run in env.Dir with env.ProcEnv
// added, as the leader of a new process group. When ctx ends the whole group
// gets SIGKILL.
func toolCommand(ctx context.Context, env *Env, path string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = env.Dir
	cmd.Env = append(os.Environ(), env.ProcEnv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// killGroup sends SIGKILL to the process group led by cmd's process.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// runTool runs cmd to completion and returns its standard output; standard
// error is appended to errors. Whatever is left of its process group
// afterwards is killed. The output is also kept in env.OutDir when set.
func runTool(ctx context.Context, env *Env, name string, cmd *exec.Cmd) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("workloads: %s: start %s: %w", name, cmd.Path, err)
	}
	if toolStarted != nil {
		toolStarted(cmd.Process.Pid)
	}
	err := cmd.Wait()
	killGroup(cmd)
	keepOutput(env, name, cmd, stdout.Bytes(), stderr.Bytes())
	if ctx.Err() != nil {
		return stdout.Bytes(), fmt.Errorf("workloads: %s: %w", name, ctx.Err())
	}
	if err != nil {
		return stdout.Bytes(), fmt.Errorf("workloads: %s: %s: %w: %s", name, strings.Join(cmd.Args, " "), err, tail(stderr.Bytes(), 800))
	}
	return stdout.Bytes(), nil
}

// runToolStoppable runs cmd like runTool, except that when ctx ends the
// program is asked to stop: its process group gets SIGINT and up to grace to
// exit (stress-ng then still writes its report), then SIGKILL. It reports
// whether ctx ended before the program did (stopped); err is then nil when
// the program exited by itself after the signal, and whether its output is
// usable is the caller's call. The process group is killed at the end as
// with runTool. cmd must come from toolCommand.
func runToolStoppable(ctx context.Context, env *Env, name string, cmd *exec.Cmd, grace time.Duration) (out []byte, stopped bool, err error) {
	// Files, not pipes: Wait then returns when the program exits, even if
	// a child of it still holds its output open (it is killed right after).
	stdoutF, err := unlinkedTemp()
	if err != nil {
		return nil, false, fmt.Errorf("workloads: %s: %w", name, err)
	}
	defer stdoutF.Close()
	stderrF, err := unlinkedTemp()
	if err != nil {
		return nil, false, fmt.Errorf("workloads: %s: %w", name, err)
	}
	defer stderrF.Close()
	cmd.Stdout, cmd.Stderr = stdoutF, stderrF
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("workloads: %s: start %s: %w", name, cmd.Path, err)
	}
	if toolStarted != nil {
		toolStarted(cmd.Process.Pid)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err = <-exited:
	case <-ctx.Done():
		stopped = true
		signalGroup(cmd, syscall.SIGINT)
		select {
		case err = <-exited:
		case <-time.After(grace):
			killGroup(cmd)
			err = <-exited
			err = fmt.Errorf("did not stop within %v of SIGINT, killed: %w", grace, err)
		}
	}
	killGroup(cmd)
	stdout, stderr := readAllFrom(stdoutF), readAllFrom(stderrF)
	keepOutput(env, name, cmd, stdout, stderr)
	if err != nil {
		return stdout, stopped, fmt.Errorf("workloads: %s: %s: %w: %s", name, strings.Join(cmd.Args, " "), err, tail(stderr, 800))
	}
	return stdout, stopped, nil
}

// unlinkedTemp returns an open temporary file that is already removed.
func unlinkedTemp() (*os.File, error) {
	f, err := os.CreateTemp("", "polytropon-tool-")
	if err != nil {
		return nil, err
	}
	os.Remove(f.Name())
	return f, nil
}

func readAllFrom(f *os.File) []byte {
	st, err := f.Stat()
	if err != nil {
		return nil
	}
	b := make([]byte, st.Size())
	n, _ := f.ReadAt(b, 0)
	return b[:n]
}

// signalGroup sends sig to the process group led by cmd's process.
func signalGroup(cmd *exec.Cmd, sig syscall.Signal) {
	if cmd.Process != nil {
		syscall.Kill(-cmd.Process.Pid, sig)
	}
}

// keepOutput saves a tool's command line and output under env.OutDir.
func keepOutput(env *Env, name string, cmd *exec.Cmd, stdout, stderr []byte) {
	if env.OutDir == "" {
		return
	}
	base := filepath.Join(env.OutDir, fmt.Sprintf("%s-p%d-c%d-%d", name, env.Pool, env.Instance, time.Now().UnixNano()))
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s\n", strings.Join(cmd.Args, " "))
	b.Write(stdout)
	if os.MkdirAll(env.OutDir, 0o755) == nil {
		os.WriteFile(base+".out", b.Bytes(), 0o644)
		if len(stderr) > 0 {
			os.WriteFile(base+".err", stderr, 0o644)
		}
	}
}

func tail(b []byte, n int) string {
	b = bytes.TrimSpace(b)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// toolPath resolves a path option of a tool: absolute stays, relative is
// taken inside env.Dir (the container's directory as the kernel sees it).
func toolPath(env *Env, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(env.Dir, p)
}
