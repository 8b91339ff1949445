package workloads

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
)

func init() {
	Register("sysbench-fileio", func() Workload {
		// sysbench's own fileio defaults, with a 60 s run.
		return &SysbenchFileio{
			Dir:        "sysbench-fileio",
			Files:      128,
			TotalSize:  2 << 30,
			BlockSize:  16 << 10,
			Mode:       "rndrw",
			FsyncFreq:  100,
			Threads:    1,
			Percentile: 99,
			Duration:   60 * time.Second,
		}
	})
}

// SysbenchFileio runs sysbench's fileio test (Debian package sysbench) in
// Dir inside the container: Prepare runs "sysbench fileio ... prepare"
// (creates Files test files totalling TotalSize, not measured), Run runs
// "sysbench fileio --file-test-mode=Mode ... run". An op is a sysbench event
// (one read, write or fsync).
type SysbenchFileio struct {
	Dir        string        `toml:"dir"`
	Files      int           `toml:"file_num"`
	TotalSize  units.Size    `toml:"file_total_size"`
	BlockSize  units.Size    `toml:"file_block_size"`
	Mode       string        `toml:"file_test_mode"` // seqwr, seqrewr, seqrd, rndrd, rndwr, rndrw
	FsyncFreq  int           `toml:"file_fsync_freq"`
	Threads    int           `toml:"threads"`
	Percentile int           `toml:"percentile"`
	Duration   time.Duration `toml:"duration"`

	binary string
}

func (w *SysbenchFileio) Name() string { return "sysbench-fileio" }

// Tools is the external program the workload runs.
func (w *SysbenchFileio) Tools() []hostcheck.Program { return []hostcheck.Program{hostcheck.Sysbench} }

func (w *SysbenchFileio) Validate() error {
	errs := []error{
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "file_num", int64(w.Files), 1, 1<<20),
		checkRange(w.Name(), "file_total_size", int64(w.TotalSize), 1, 1<<50),
		checkRange(w.Name(), "file_block_size", int64(w.BlockSize), 1, 1<<30),
		checkRange(w.Name(), "file_fsync_freq", int64(w.FsyncFreq), 0, 1<<30),
		checkRange(w.Name(), "threads", int64(w.Threads), 1, 4096),
		checkRange(w.Name(), "percentile", int64(w.Percentile), 1, 99),
		checkDuration(w.Name(), "duration", w.Duration),
	}
	switch w.Mode {
	case "seqwr", "seqrewr", "seqrd", "rndrd", "rndwr", "rndrw":
	default:
		errs = append(errs, fmt.Errorf("workloads: sysbench-fileio: file_test_mode %q not one of seqwr, seqrewr, seqrd, rndrd, rndwr, rndrw", w.Mode))
	}
	if w.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("workloads: sysbench-fileio: duration must be whole seconds, got %v", w.Duration))
	}
	return errors.Join(errs...)
}

// MakeCmd returns sysbench's arguments for command (prepare or run).
func (w *SysbenchFileio) MakeCmd(command string) []string {
	args := []string{
		"fileio",
		"--file-num=" + strconv.Itoa(w.Files),
		"--file-total-size=" + strconv.FormatInt(int64(w.TotalSize), 10),
		"--file-block-size=" + strconv.FormatInt(int64(w.BlockSize), 10),
	}
	if command == "run" {
		args = append(args,
			"--file-test-mode="+w.Mode,
			"--file-fsync-freq="+strconv.Itoa(w.FsyncFreq),
			"--threads="+strconv.Itoa(w.Threads),
			"--time="+strconv.Itoa(int(w.Duration/time.Second)),
			"--percentile="+strconv.Itoa(w.Percentile),
			"--histogram=on",
		)
	}
	return append(args, command)
}

func (w *SysbenchFileio) Parameters() map[string]string {
	return map[string]string{"mode": w.Mode, "threads": strconv.Itoa(w.Threads), "block_size": w.BlockSize.String()}
}

func (w *SysbenchFileio) Prepare(ctx context.Context, env *Env) error {
	bin, err := findTool(hostcheck.Sysbench)
	if err != nil {
		return err
	}
	w.binary = bin
	if err := removeAll(ctx, env.FS, w.Dir); err != nil {
		return err
	}
	if err := mkdirAll(ctx, env.FS, w.Dir); err != nil {
		return err
	}
	cmd := toolCommand(ctx, env, bin, w.MakeCmd("prepare")...)
	cmd.Dir = toolPath(env, w.Dir)
	_, err = runTool(ctx, env, "sysbench-fileio-prepare", cmd)
	return err
}

func (w *SysbenchFileio) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.binary == "" {
		return nil, fmt.Errorf("workloads: sysbench-fileio: Run before Prepare")
	}
	cmd := toolCommand(ctx, env, w.binary, w.MakeCmd("run")...)
	cmd.Dir = toolPath(env, w.Dir)
	out, err := runTool(ctx, env, "sysbench-fileio", cmd)
	if err != nil {
		return nil, err
	}
	return w.Report(out)
}

// Report parses sysbench's output with parseSysbench.
func (w *SysbenchFileio) Report(out []byte) (*Result, error) { return parseSysbench(w.Name(), out) }
