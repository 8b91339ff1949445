// Package workloads holds the benchmark workloads of the harness, one per
// file, each registered by name in its init function: the RocksDB db_bench
// runs, the Filebench personalities re-implemented in Go (fileserver,
// webserver, seqwrite, seqread), stress-ng random I/O, sysbench CPU, lighttpd
// start-up, fileappend and fileread.
//
// A workload is configured by the exported, toml-tagged fields of its struct
// (the experiment decoder fills them strictly from the workload's table),
// prepared once (file sets, not measured), then run inside one container of a
// pool. Native Go workloads do their I/O through Env.FS, the container's
// filesystem as a libservice (the IPC client for the user-level system D, a
// plain host-directory service for kernel and FUSE systems), so recompiled
// applications reach the service exactly as the papers describe. Wrappers of
// external programs run them in Env.Dir with Env.ProcEnv added (LD_PRELOAD for
// D) and parse their output.
package workloads

import (
	"context"
	"errors"
	"time"

	"polytropon/fs"
	"polytropon/internal/registry"
	"polytropon/results"
)

// Workload is one configured benchmark.
type Workload interface {
	// Name is the registered name.
	Name() string
	// Validate checks the configuration after decoding and fills defaults.
	Validate() error
	// Prepare creates what Run needs (file sets, databases); not measured.
	Prepare(ctx context.Context, env *Env) error
	// Run does the measured work until done or ctx ends (a workload with a
	// duration stops at ctx's deadline or its own, whichever comes first).
	Run(ctx context.Context, env *Env) (*Result, error)
}

// Cleaner is an optional capability of a workload that creates things
// outside its container (a host directory): Cleanup removes them. The
// agent calls it once, after Run or after a failed Prepare.
type Cleaner interface {
	Cleanup() error
}

// MemoryNeeder is an optional capability of a workload that holds much
// memory of its own while it runs (I/O buffers per thread): MemoryNeed is
// about how many bytes one instance keeps resident, beyond the agent
// process's own. The runner checks before a run that a pool's workloads
// and system fit its memory limit.
type MemoryNeeder interface {
	MemoryNeed() int64
	// DataBytes is about how many bytes of file data an instance touches
	// (its file set): a user-level cache of the container holds no more.
	DataBytes() int64
}

// Env is where a workload instance runs: one container of one pool.
type Env struct {
	Dir      string     // the container's data directory as the kernel sees it
	FS       fs.Service // the same directory as a libservice
	ProcEnv  []string   // extra environment for external programs ("K=V")
	Cores    []int      // the pool's cores
	Pool     int        // pool index
	Instance int        // container index within the pool
	Seed     int64      // per-instance RNG seed, so repetitions differ but are reproducible
	OutDir   string     // where raw tool outputs may be kept
}

// Result is what one workload instance reports.
type Result struct {
	Ops      int64                         // operations completed (the workload defines "op")
	Bytes    int64                         // bytes read + written by the workload
	Elapsed  time.Duration                 // measured wall time
	Latency  map[string]*results.Histogram // per-op-kind latency; key "all" for the total
	Counters map[string]float64            // the workload's own counters, units in the name ("fsync_count", "errors")
}

// OpsPerSec is the operation throughput.
func (r *Result) OpsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// MBPerSec is the data throughput in MB/s (10^6 bytes).
func (r *Result) MBPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Bytes) / 1e6 / r.Elapsed.Seconds()
}

// OpKinder is an optional capability of a workload: the op kinds it
// reports latency for as configured (the keys of Result.Latency besides
// "all"), so that an experiment naming latency_p99_us:<kind> is checked
// before anything runs.
type OpKinder interface {
	OpKinds() []string
}

// ErrNothingToDo is returned by Run when the configuration asks for no work;
// it is not a failure.
var ErrNothingToDo = errors.New("workloads: nothing to do")

// ErrToolMissing wraps the error of a workload whose external program is not
// installed; the message names the Debian package.
var ErrToolMissing = errors.New("workloads: required program not installed")

// Factory returns a workload with its default configuration.
type Factory func() Workload

// registered are the workloads by name.
var registered = registry.New[Factory]("workloads", "workload")

// Register adds a workload; for init functions only (panics on duplicates).
func Register(name string, f Factory) { registered.Register(name, f) }

// New returns the named workload with its default configuration.
func New(name string) (Workload, error) {
	f, err := registered.Lookup(name)
	if err != nil {
		return nil, err
	}
	return f(), nil
}

// Names lists the registered workloads.
func Names() []string { return registered.Names() }
