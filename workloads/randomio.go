package workloads

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
	"polytropon/results"
)

func init() {
	Register("randomio", func() Workload {
		// The papers' RND (fig 1): 2 stress-ng hdd workers doing random
		// 512 B reads and writes on a 1 GB file.
		return &RandomIO{
			Workers:   2,
			HDDOpts:   "rd-rnd,wr-rnd",
			WriteSize: 512,
			Bytes:     1 << 30,
			TempDir:   "stress-ng",
			Duration:  60 * time.Second,
		}
	})
}

// RandomIO runs stress-ng's hdd stressor (Debian package stress-ng):
// stress-ng --hdd Workers --hdd-opts HDDOpts --hdd-write-size WriteSize
// --hdd-bytes Bytes --temp-path TempDir --metrics-brief --yaml F --timeout
// Ns. TempDir is inside the container unless absolute (the papers' RND used
// local ext4). An op is a stress-ng bogo op.
type RandomIO struct {
	Workers   int           `toml:"workers"`
	HDDOpts   string        `toml:"hdd_opts"`   // comma-separated stress-ng --hdd-opts
	WriteSize units.Size    `toml:"write_size"` // --hdd-write-size
	Bytes     units.Size    `toml:"bytes"`      // --hdd-bytes, per worker
	TempDir   string        `toml:"temp_dir"`
	Duration  time.Duration `toml:"duration"`

	binary string
	// hostDir is this instance's own directory under an absolute TempDir
	// (several instances may share TempDir); created lists what Prepare
	// made there, innermost last, for Cleanup.
	hostDir string
	created []string
}

func (w *RandomIO) Name() string { return "randomio" }

// Tools is the external program the workload runs.
func (w *RandomIO) Tools() []hostcheck.Program { return []hostcheck.Program{hostcheck.StressNG} }

var hddOpt = regexp.MustCompile(`^[a-z0-9-]+$`)

func (w *RandomIO) Validate() error {
	errs := []error{
		checkRange(w.Name(), "workers", int64(w.Workers), 1, 4096),
		checkRange(w.Name(), "write_size", int64(w.WriteSize), 1, 4<<20),
		checkRange(w.Name(), "bytes", int64(w.Bytes), 1, 1<<50),
		checkDuration(w.Name(), "duration", w.Duration),
	}
	if w.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("workloads: randomio: duration must be whole seconds, got %v", w.Duration))
	}
	for _, o := range strings.Split(w.HDDOpts, ",") {
		if !hddOpt.MatchString(o) {
			errs = append(errs, fmt.Errorf("workloads: randomio: hdd_opts: bad option %q", o))
		}
	}
	if w.TempDir == "" || (!filepath.IsAbs(w.TempDir) && checkName(w.Name(), "temp_dir", w.TempDir) != nil) {
		errs = append(errs, fmt.Errorf("workloads: randomio: temp_dir must be absolute or a clean relative path, got %q", w.TempDir))
	}
	return errors.Join(errs...)
}

// MakeCmd returns stress-ng's arguments; yaml is the file for --yaml.
func (w *RandomIO) MakeCmd(env *Env, yaml string) []string {
	return []string{
		"--hdd", strconv.Itoa(w.Workers),
		"--hdd-opts", w.HDDOpts,
		"--hdd-write-size", strconv.FormatInt(int64(w.WriteSize), 10),
		"--hdd-bytes", strconv.FormatInt(int64(w.Bytes), 10),
		"--temp-path", w.tempPath(env),
		"--metrics-brief",
		"--yaml", yaml,
		"--timeout", strconv.Itoa(int(w.Duration/time.Second)) + "s",
	}
}

// tempPath is stress-ng's --temp-path: the instance's own directory under
// an absolute TempDir once Prepare made it, else TempDir resolved in the
// container.
func (w *RandomIO) tempPath(env *Env) string {
	if w.hostDir != "" {
		return w.hostDir
	}
	return toolPath(env, w.TempDir)
}

func (w *RandomIO) Parameters() map[string]string {
	return map[string]string{"workers": strconv.Itoa(w.Workers), "hdd_opts": w.HDDOpts, "write_size": w.WriteSize.String()}
}

func (w *RandomIO) Prepare(ctx context.Context, env *Env) error {
	bin, err := findTool(hostcheck.StressNG)
	if err != nil {
		return err
	}
	w.binary = bin
	if !filepath.IsAbs(w.TempDir) {
		return mkdirAll(ctx, env.FS, w.TempDir)
	}
	// Outside the container: a host path, shared by every instance that
	// names it, so each gets its own directory in it, and Cleanup removes
	// what Prepare made.
	dir := filepath.Join(filepath.Clean(w.TempDir), fmt.Sprintf("polytropon-randomio-p%d-c%d-%d", env.Pool, env.Instance, os.Getpid()))
	var missing []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Lstat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		missing = append([]string{d}, missing...)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("workloads: randomio: temp_dir: %w", err)
	}
	w.hostDir, w.created = dir, missing
	return nil
}

// Cleanup removes the instance's directory under an absolute TempDir and
// the parents Prepare created, when no other instance still uses them.
func (w *RandomIO) Cleanup() error {
	if w.hostDir == "" {
		return nil
	}
	err := os.RemoveAll(w.hostDir)
	for i := len(w.created) - 1; i >= 0; i-- {
		if w.created[i] != w.hostDir {
			os.Remove(w.created[i]) // fails, and stays, while another instance uses it
		}
	}
	w.hostDir, w.created = "", nil
	return err
}

// randomioStopGrace bounds how long stress-ng may take, after SIGINT, to
// stop its workers and write its report: seconds on a loaded host, and 12 s
// measured here for the papers' RND (1 GiB of random 512 B writes on host
// ext4, its workers held in write-back throttling). It is shorter than the
// runner's grace for a stopped agent.
var randomioStopGrace = 25 * time.Second

// Run runs stress-ng for Duration. When ctx ends first (a noise workload
// stopped because the main workload finished, or the run's deadline),
// stress-ng is asked to stop with SIGINT, which makes it end its workers
// and still write its report, and Run returns what it measured until then;
// only when no report comes within randomioStopGrace is the group killed
// and the context's error returned.
func (w *RandomIO) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.binary == "" {
		return nil, fmt.Errorf("workloads: randomio: Run before Prepare")
	}
	// The YAML report is the harness's file, not the workload's: it goes
	// to a private temporary directory on the host.
	tmp, err := os.MkdirTemp("", "randomio-yaml-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	yaml := filepath.Join(tmp, "stress-ng.yaml")
	// Not toolCommand's context: ctx's end is a stop request, not a kill.
	cmd := toolCommand(context.WithoutCancel(ctx), env, w.binary, w.MakeCmd(env, yaml)...)
	_, stopped, runErr := runToolStoppable(ctx, env, "randomio", cmd, randomioStopGrace)
	out, readErr := os.ReadFile(yaml)
	switch {
	case stopped && (runErr != nil || readErr != nil):
		return nil, fmt.Errorf("workloads: randomio: stopped without a report: %w", errors.Join(ctx.Err(), runErr, readErr))
	case runErr != nil:
		return nil, runErr
	case readErr != nil:
		return nil, fmt.Errorf("workloads: randomio: stress-ng wrote no YAML report: %w", readErr)
	}
	return w.Report(out)
}

// Report parses the "metrics:" list of stress-ng's YAML report: the hdd
// entry's bogo-ops become Ops, wall-clock-time Elapsed, and every numeric
// field a counter with dashes turned into underscores (bogo_ops_per_second_
// real_time, mbsec_read_rate, ...). stress-ng's hdd stressor counts one
// bogo op per read or write call of write_size bytes, so Bytes is
// bogo-ops x WriteSize (randomio.throughput_mbps is then the workers'
// bytes over wall-clock time). Its mbsec_* rates are per worker and per
// second spent inside read/write calls, not per wall-clock second, so they
// stay counters only. stress-ng reports no latencies.
func (w *RandomIO) Report(out []byte) (*Result, error) {
	res := &Result{Latency: map[string]*results.Histogram{}, Counters: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	inMetrics, inHDD, found := false, false, false
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "-") {
			inMetrics = trimmed == "metrics:"
			inHDD = false
			continue
		}
		if !inMetrics {
			continue
		}
		if strings.HasPrefix(trimmed, "- ") {
			trimmed = strings.TrimPrefix(trimmed, "- ")
			inHDD = false
		}
		k, v, ok := strings.Cut(trimmed, ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "stressor" {
			inHDD = v == "hdd"
			found = found || inHDD
			continue
		}
		if !inHDD {
			continue
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		res.Counters[strings.ReplaceAll(k, "-", "_")] = f
		switch k {
		case "bogo-ops":
			res.Ops = int64(f)
		case "wall-clock-time":
			res.Elapsed = time.Duration(f * float64(time.Second))
		}
	}
	if !found {
		return nil, fmt.Errorf("workloads: randomio: no hdd metrics in stress-ng YAML report: %s", tail(out, 400))
	}
	res.Bytes = res.Ops * int64(w.WriteSize)
	return res, nil
}
