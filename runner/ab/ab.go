// Package ab runs interleaved A/B experiments: the same experiment file
// with two builds of polytropon, in rounds on one host, base and new back
// to back in each round and in ABBA order (AB, BA, AB, ...), so that slow
// drift of the host (a shared VM warming up, a neighbour starting) falls
// on both sides of every round instead of on one run. Each side's round is
// one repetition of every point, run by that build's own `polytropon run`
// from the same resolved experiment file with the same seed, so the
// preparation (pools, images, file sets, the preload library of the
// build) is identical and fresh each round.
//
// The rounds are stored as one results run (results.ABInfo): every point
// twice, with a "side" param, and the repetition number of a record is its
// round, which is what results.GateAB pairs.
//
// A build is a polytropon binary or a commit: a commit is built in a
// temporary git worktree (the binary and fs/preload's library), which is
// removed when the run ends.
package ab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"polytropon/results"
	"polytropon/runner"
	"polytropon/runner/config"
)

// Options configure Run.
type Options struct {
	// Base and New are each a polytropon binary or a git commit (any
	// revision git rev-parse accepts) of SourceDir.
	Base, New string
	// Rounds of the A/B run (default 6): each runs every point once with
	// each build.
	Rounds int
	// OutDir is where the run directory ab-<experiment>-<UTC time> is
	// created (default "out").
	OutDir string
	// SourceDir is the git work tree commits are built from (default ".").
	SourceDir string
	// Tags are Go build tags for builds from commits ("ceph pacific").
	Tags string
	// RunFlags are passed to each build's `polytropon run` before the
	// file (e.g. a scale option); both builds must accept them.
	RunFlags []string
	// Stderr receives progress; nil discards.
	Stderr io.Writer
}

// build is one side's executable.
type build struct {
	side    string // results.SideBase or results.SideNew
	spec    string
	bin     string
	commit  string
	preload string // fs/preload of the worktree it was built in, or ""
}

// Run runs the experiment file with both builds for opts.Rounds rounds
// and returns the A/B run's directory. An interrupted run (ctx done) keeps
// the finished rounds, stays marked incomplete, and returns an error.
func Run(ctx context.Context, file string, opts Options) (string, error) {
	if opts.Rounds == 0 {
		opts.Rounds = 6
	}
	if opts.Rounds < 2 {
		return "", fmt.Errorf("ab: %d rounds: need at least 2 (one AB, one BA)", opts.Rounds)
	}
	if opts.OutDir == "" {
		opts.OutDir = "out"
	}
	if opts.SourceDir == "" {
		opts.SourceDir = "."
	}
	if opts.Stderr == nil {
		opts.Stderr = io.Discard
	}
	if opts.Base == "" || opts.New == "" {
		return "", errors.New("ab: both builds are needed: base and new (a binary or a commit each)")
	}
	// Loaded as `polytropon run` loads it (runner registers the systems
	// and their options), so a bad file fails here, before any build.
	exp, err := config.Load(file)
	if err != nil {
		return "", err
	}
	// One repetition per point and round; the rounds are the repetitions.
	exp.Run.Repetitions = config.Repetitions{Min: 1, Max: 1}
	exp.Plots = nil
	text, err := exp.Encode()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "polytropon-ab-")
	if err != nil {
		return "", fmt.Errorf("ab: %w", err)
	}
	defer os.RemoveAll(tmp)
	roundFile := filepath.Join(tmp, exp.Name+".toml")
	if err := os.WriteFile(roundFile, text, 0o644); err != nil {
		return "", fmt.Errorf("ab: %w", err)
	}

	var builds []*build
	defer func() {
		removed := map[string]bool{}
		for _, b := range builds {
			if wt := filepath.Dir(filepath.Dir(b.preload)); b.preload != "" && !removed[wt] {
				removed[wt] = true
				removeWorktree(opts.SourceDir, wt, opts.Stderr)
			}
		}
	}()
	for _, side := range []struct{ name, spec string }{{results.SideBase, opts.Base}, {results.SideNew, opts.New}} {
		b, err := resolve(ctx, side.name, side.spec, tmp, opts, builds)
		if b != nil {
			builds = append(builds, b)
		}
		if err != nil {
			return "", err
		}
	}

	name := exp.Name
	if !strings.HasPrefix(name, "ab-") {
		name = "ab-" + name
	}
	run, err := results.Create(opts.OutDir, name)
	if err != nil {
		return "", err
	}
	defer run.Close()
	if err := run.WriteConfig(text); err != nil {
		return run.Dir, err
	}
	info := results.Info{Experiment: exp.Name, MainMetric: exp.Run.MainMetric, Weights: exp.Weights(),
		Host: results.CollectHost(ctx, results.HostOptions{SourceDir: opts.SourceDir}),
		AB: &results.ABInfo{Rounds: opts.Rounds,
			Base: results.ABSide{Spec: opts.Base, Commit: builds[0].commit, Binary: builds[0].bin},
			New:  results.ABSide{Spec: opts.New, Commit: builds[1].commit, Binary: builds[1].bin}}}
	sides := map[string]*results.ABSide{results.SideBase: &info.AB.Base, results.SideNew: &info.AB.New}
	rounds := filepath.Join(run.Dir, "rounds")
	if err := os.MkdirAll(rounds, 0o755); err != nil {
		return run.Dir, fmt.Errorf("ab: %w", err)
	}
	fmt.Fprintf(opts.Stderr, "polytropon ab %s: %d rounds of base %s and new %s, results in %s\n", exp.Name, opts.Rounds, opts.Base, opts.New, run.Dir)
	for r := range opts.Rounds {
		order, seq := "AB", builds
		if r%2 == 1 {
			order, seq = "BA", []*build{builds[1], builds[0]}
		}
		info.AB.Order = append(info.AB.Order, order)
		if err := run.WriteInfo(info); err != nil {
			return run.Dir, err
		}
		for _, b := range seq {
			if ctx.Err() != nil {
				return run.Dir, fmt.Errorf("%w: ab: in round %d: %v (finished rounds kept in %s)", runner.ErrInterrupted, r, context.Cause(ctx), run.Dir)
			}
			start := time.Now()
			host, err := runSide(ctx, b, r, roundFile, rounds, run, opts.RunFlags)
			if err != nil {
				return run.Dir, err
			}
			if s := sides[b.side]; s.Host.Hostname == "" {
				s.Host = host
				if s.Commit == "" {
					s.Commit = host.GitCommit
				}
			}
			fmt.Fprintf(opts.Stderr, "round %d/%d %s (%s): %.0fs\n", r+1, opts.Rounds, b.side, b.spec, time.Since(start).Seconds())
		}
	}
	if err := run.WriteInfo(info); err != nil {
		return run.Dir, err
	}
	_, err = run.Finish()
	return run.Dir, err
}

// runSide runs round r of one build: `BIN run -out DIR FILE`, and appends
// the records of the run it made to the A/B run with the side param.
// A run whose points failed still counts (its failures are recorded and
// the gate sees the points missing); a build that makes no run at all
// stops the A/B run.
func runSide(ctx context.Context, b *build, r int, roundFile, rounds string, ab *results.Run, flags []string) (results.Host, error) {
	out := filepath.Join(rounds, fmt.Sprintf("r%02d-%s", r, b.side))
	logPath := out + ".log"
	logf, err := os.Create(logPath)
	if err != nil {
		return results.Host{}, fmt.Errorf("ab: %w", err)
	}
	defer logf.Close()
	args := append(append([]string{"run", "-out", out}, flags...), roundFile)
	cmd := exec.CommandContext(ctx, b.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// The build's own service, FUSE daemons and agents: main() would
	// otherwise keep this process's POLYTROPON_BIN.
	cmd.Env = append(os.Environ(), "POLYTROPON_BIN="+b.bin)
	if b.preload != "" {
		cmd.Env = append(cmd.Env, "POLYTROPON_PRELOAD_DIR="+b.preload)
	}
	// Interrupted: let the run stop its agents and tear its pools down.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGINT) }
	cmd.WaitDelay = 2 * time.Minute
	runErr := cmd.Run()
	dirs, _ := filepath.Glob(filepath.Join(out, "*", results.HostFile))
	if len(dirs) != 1 {
		return results.Host{}, fmt.Errorf("ab: round %d, %s build %s made no run (%v); its output is in %s:\n%s", r, b.side, b.spec, runErr, logPath, tail(logPath))
	}
	side, warn, err := results.Open(filepath.Dir(dirs[0]))
	if err != nil {
		return results.Host{}, err
	}
	for _, w := range warn {
		note := results.Record{Kind: results.KindNote, Note: fmt.Sprintf("round %d %s: %v", r, b.side, w)}
		if err := ab.Append(note); err != nil {
			return results.Host{}, err
		}
	}
	for _, rec := range side.Records {
		if err := ab.Append(results.SideRecord(rec, b.side, r)); err != nil {
			return results.Host{}, err
		}
	}
	if ctx.Err() != nil {
		return side.Info.Host, fmt.Errorf("%w: ab: in round %d: %v (finished rounds kept in %s)", runner.ErrInterrupted, r, context.Cause(ctx), ab.Dir)
	}
	return side.Info.Host, nil
}

// tail is the end of a log file, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}
