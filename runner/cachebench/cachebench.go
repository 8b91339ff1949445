// Package cachebench runs the proportional-share experiments of the
// weight-aware page cache (digest §5) without the harness: N tenants, each
// a group of workload threads with a weight, share one cache pool over
// fs/local with O_DIRECT (so the kernel page cache does not help), once per
// cache setting (conventional, direct I/O, weight-aware with and without
// aging), all in one run. It reports each tenant's bandwidth, the
// proportionality variation PV and Jain's index per setting
// (results.PV, results.Jain), and, with Config.OutDir, stores the run
// through package results like a harness run: each setting is a point
// (setting=<label>), each tenant an instance of it (container i of pool 0,
// as the harness's container tenants), so summary.csv has the tenants'
// throughput_mbps@c<i>, pv and jain, bench.txt is readable by benchstat,
// polytropon compare takes two runs, and the normalized-bandwidth-versus-
// weight figure is drawn (Plots).
//
// The experiment files experiments/justitia-*.toml are harness files
// (runner/config schema); FromExperiment reads the tenants' weights, the
// cache size, the run durations and the workload from one. See
// docs/cache.md.
package cachebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"text/tabwriter"
	"time"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/local"
	"polytropon/results"
	"polytropon/workloads"
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("cachebench: bad configuration")

// Setting is one cache configuration the tenants are measured under.
type Setting struct {
	Label  string // names the setting in output ("conventional", ...)
	Policy string // registered eviction policy; "" = no cache (direct I/O)
	Aging  bool   // aging in the weighted allocation queue
}

// Settings are the known settings, by label.
var Settings = map[string]Setting{
	"conventional":   {Label: "conventional", Policy: "clock2q"},
	"direct":         {Label: "direct"},
	"weighted":       {Label: "weighted", Policy: "weighted"},
	"weighted-aging": {Label: "weighted-aging", Policy: "weighted", Aging: true},
	"lru":            {Label: "lru", Policy: "lru"},
}

// DefaultSettings are compared when Config.Settings is empty.
var DefaultSettings = []string{"conventional", "direct", "weighted", "weighted-aging"}

// Config is one proportionality experiment.
type Config struct {
	Name     string
	Weights  []int // one per tenant
	Capacity int64 // bytes of the shared pool
	PageSize int   // default cache.DefaultPageSize
	Slots    int   // allocation slots (default 1: the allocation lock of the paper)
	Settings []Setting
	// NewWorkload returns tenant i's workload, configured (it is Prepared
	// and Run once per setting and repetition).
	NewWorkload func(tenant int) (workloads.Workload, error)
	Warmup      time.Duration // unmeasured run before each measurement
	Duration    time.Duration // measured run
	Repetitions int           // default 1
	WorkDir     string        // backend data; default a temporary directory (removed)
	NoODirect   bool          // open the backend buffered (for hosts without O_DIRECT)
	Seed        int64
	// OutDir, when set, receives the run directory cachebench-<UTC time>/
	// (results.Recorder); "" stores nothing.
	OutDir string
}

// TenantResult is one tenant's outcome under one setting.
type TenantResult struct {
	Name      string
	Weight    int
	MBps      float64 // mean over repetitions, 10^6 B/s
	Samples   []float64
	Stats     cache.TenantStats // of the last repetition (zero for direct)
	NormBW    float64           // MBps over the lowest-weight tenant's
	NormW     float64
	Ops       int64
	ElapsedS  float64
	HitRatio  float64
	GrantFrac float64 // share of the allocation grants
}

// SettingResult is the outcome of one setting.
type SettingResult struct {
	Setting Setting
	Tenants []TenantResult
	PV      float64
	Jain    float64
}

// Report is the outcome of Run.
type Report struct {
	Name     string
	Settings []SettingResult
	// Table is the results summary of the run (per-tenant throughput,
	// pv, jain, cache hit ratios, ... per setting).
	Table *results.Table
	// Dir is the run directory (Config.OutDir); Files are the figures
	// drawn there.
	Dir   string
	Files []string
}

// cacheMetrics are the metrics cachebench measures beside the workloads'
// (declared in host.json, so polytropon compare reads the run as a
// benchmark's: every metric by default).
var cacheMetrics = []results.MetricInfo{
	{Name: "cache_hit_ratio", Unit: "ratio", HigherIsBetter: true},
	{Name: "cache_grant_share", Unit: "ratio", HigherIsBetter: true},
}

// RunName is the name of cachebench runs (results.Info.Experiment).
const RunName = "cachebench"

// Plots are the figures of a stored cachebench run (ok is false for other
// runs): the tenants' normalized bandwidth against their normalized
// weight, a line per setting.
func Plots(run *results.Run) (specs []results.PlotSpec, ok bool) {
	if run.Info.Experiment != RunName {
		return nil, false
	}
	return []results.PlotSpec{{Kind: "proportionality", Title: "Tenants: normalized bandwidth vs weight", File: "proportionality"}}, true
}

// settings is config.toml of a run: the configuration, defaults resolved.
func (c *Config) settings(workload string) map[string]any {
	var labels []string
	for _, st := range c.Settings {
		labels = append(labels, st.Label)
	}
	return map[string]any{"name": c.Name, "weights": c.Weights, "capacity": c.Capacity, "page_size": c.PageSize,
		"slots": c.Slots, "settings": labels, "workload": workload, "warmup": c.Warmup, "duration": c.Duration,
		"repetitions": c.Repetitions, "no_odirect": c.NoODirect, "seed": c.Seed}
}

func (c *Config) check() error {
	var errs []error
	if len(c.Weights) == 0 {
		errs = append(errs, errors.New("no tenants (weights)"))
	}
	for i, w := range c.Weights {
		if w < 1 || w > cache.MaxWeight {
			errs = append(errs, fmt.Errorf("weights[%d] = %d: want 1..%d", i, w, cache.MaxWeight))
		}
	}
	if c.NewWorkload == nil {
		errs = append(errs, errors.New("no workload"))
	}
	if c.Duration <= 0 {
		errs = append(errs, fmt.Errorf("duration %v: want > 0", c.Duration))
	}
	if c.Capacity <= 0 {
		errs = append(errs, fmt.Errorf("capacity %d: want > 0", c.Capacity))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrConfig, errors.Join(errs...))
	}
	if c.PageSize == 0 {
		c.PageSize = cache.DefaultPageSize
	}
	if c.Slots == 0 {
		c.Slots = 1
	}
	if c.Repetitions <= 0 {
		c.Repetitions = 1
	}
	if len(c.Settings) == 0 {
		for _, l := range DefaultSettings {
			c.Settings = append(c.Settings, Settings[l])
		}
	}
	return nil
}

// Run measures every setting and returns the report. progress, if not
// nil, gets one line per measurement.
func Run(ctx context.Context, cfg Config, progress io.Writer) (*Report, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if progress == nil {
		progress = io.Discard
	}
	if cfg.WorkDir == "" {
		dir, err := os.MkdirTemp("", "justitia-")
		if err != nil {
			return nil, fmt.Errorf("cachebench: %w", err)
		}
		defer os.RemoveAll(dir)
		cfg.WorkDir = dir
	}
	workload := ""
	if w, err := cfg.NewWorkload(0); err == nil {
		workload = w.Name()
	}
	weights := make([]float64, len(cfg.Weights))
	for i, w := range cfg.Weights {
		weights[i] = float64(w)
	}
	out, err := results.NewRecorder(cfg.OutDir, RunName, cfg.settings(workload),
		results.Info{Weights: weights, Metrics: cacheMetrics, Host: results.CollectHost(ctx, results.HostOptions{})})
	if err != nil {
		return nil, err
	}
	defer out.Close()
	rep := &Report{Name: cfg.Name}
	for _, st := range cfg.Settings {
		sr := SettingResult{Setting: st}
		samples := make([][]float64, len(cfg.Weights))
		for r := 0; r < cfg.Repetitions; r++ {
			res, stats, err := runOnce(ctx, cfg, st, r)
			if rerr := out.Add(repetitionRecords(st, r, workload, res, stats, err)...); rerr != nil {
				return rep, rerr
			}
			if err != nil {
				return rep, fmt.Errorf("cachebench: setting %s, repetition %d: %w", st.Label, r, err)
			}
			for i, x := range res {
				samples[i] = append(samples[i], x.MBPerSec())
			}
			if r == cfg.Repetitions-1 {
				sr.Tenants = make([]TenantResult, len(cfg.Weights))
				var grants int64
				for _, s := range stats {
					grants += s.Grants
				}
				for i, w := range cfg.Weights {
					tr := TenantResult{Name: tenantName(i), Weight: w, Ops: res[i].Ops, ElapsedS: res[i].Elapsed.Seconds()}
					if stats != nil {
						tr.Stats = stats[i]
						if h, m := stats[i].Hits, stats[i].Misses; h+m > 0 {
							tr.HitRatio = float64(h) / float64(h+m)
						}
						if grants > 0 {
							tr.GrantFrac = float64(stats[i].Grants) / float64(grants)
						}
					}
					sr.Tenants[i] = tr
				}
			}
			fmt.Fprintf(progress, "%s rep %d:", st.Label, r)
			for i := range res {
				fmt.Fprintf(progress, " %s=%.1fMB/s", tenantName(i), res[i].MBPerSec())
			}
			fmt.Fprintln(progress)
		}
		bw := make([]float64, len(cfg.Weights))
		ws := make([]float64, len(cfg.Weights))
		for i := range bw {
			sr.Tenants[i].Samples = samples[i]
			sr.Tenants[i].MBps = results.Mean(samples[i])
			bw[i], ws[i] = sr.Tenants[i].MBps, float64(cfg.Weights[i])
		}
		var err error
		if sr.PV, err = results.PV(bw, ws); err != nil {
			fmt.Fprintf(progress, "%s: %v\n", st.Label, err)
		}
		if sr.Jain, err = results.Jain(bw, ws); err != nil {
			fmt.Fprintf(progress, "%s: %v\n", st.Label, err)
		}
		if nb, nw, err := results.NormalizedBandwidths(bw, ws); err == nil {
			for i := range nb {
				sr.Tenants[i].NormBW, sr.Tenants[i].NormW = nb[i], nw[i]
			}
		}
		rep.Settings = append(rep.Settings, sr)
	}
	if rep.Table, err = out.Finish(); err != nil {
		return rep, err
	}
	if run := out.Run(); run != nil {
		rep.Dir = run.Dir
		specs, _ := Plots(run)
		rep.Files, err = run.DrawPlots(specs)
	}
	return rep, err
}

// repetitionRecords are the results records of one repetition of setting
// st: each tenant's workload result as instance i of pool 0, and the
// closing record with the tenants' cache hit ratio and share of the
// allocation grants (metrics "cache_hit_ratio@c<i>", "cache_grant_share@c<i>"),
// or the repetition's error.
func repetitionRecords(st Setting, r int, workload string, res []*workloads.Result, stats []cache.TenantStats, err error) []results.Record {
	ps := []results.Param{{Key: "setting", Value: st.Label}}
	name := results.PointName(ps)
	closing := results.Record{Kind: results.KindRepetition, Point: name, Params: ps, Repetition: r, OK: err == nil, Time: time.Now().UTC()}
	if err != nil {
		closing.Error = err.Error()
		return []results.Record{closing}
	}
	var recs []results.Record
	var grants int64
	for _, s := range stats {
		grants += s.Grants
	}
	for i, x := range res {
		ir := results.InstanceResult(*x)
		recs = append(recs, results.Record{Kind: results.KindInstance, Point: name, Params: ps, Repetition: r,
			Workload: workload, Role: "main", Pool: 0, Instance: i, Result: &ir})
		if i >= len(stats) {
			continue
		}
		tenant := results.ContainerName(i)
		if h, m := stats[i].Hits, stats[i].Misses; h+m > 0 {
			closing.Metrics = append(closing.Metrics, results.Metric{Pool: tenant, Name: "cache_hit_ratio", Unit: "ratio", Value: float64(h) / float64(h+m)})
		}
		if grants > 0 {
			closing.Metrics = append(closing.Metrics, results.Metric{Pool: tenant, Name: "cache_grant_share", Unit: "ratio", Value: float64(stats[i].Grants) / float64(grants)})
		}
	}
	return append(recs, closing)
}

func tenantName(i int) string { return fmt.Sprintf("t%d", i) }

// runOnce prepares every tenant's workload, builds the pool for the
// setting, warms up, and measures all tenants concurrently.
func runOnce(ctx context.Context, cfg Config, st Setting, rep int) ([]*workloads.Result, []cache.TenantStats, error) {
	n := len(cfg.Weights)
	wls := make([]workloads.Workload, n)
	dirs := make([]string, n)
	for i := range n {
		dirs[i] = filepath.Join(cfg.WorkDir, tenantName(i))
		if err := os.MkdirAll(dirs[i], 0o755); err != nil {
			return nil, nil, err
		}
		w, err := cfg.NewWorkload(i)
		if err != nil {
			return nil, nil, err
		}
		wls[i] = w
	}
	var opts []local.Option
	if !cfg.NoODirect {
		opts = append(opts, local.WithODirect())
	}
	var sh *cache.Shared
	if st.Policy != "" {
		var err error
		sh, err = cache.NewShared(cfg.Capacity, st.Policy, cache.WithPageSize(cfg.PageSize),
			cache.WithAging(st.Aging), cache.WithAllocSlots(cfg.Slots))
		if err != nil {
			return nil, nil, err
		}
	}
	envs := make([]*workloads.Env, n)
	var closers []func() error
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()
	for i := range n {
		l, err := local.New(dirs[i], opts...)
		if err != nil {
			return nil, nil, err
		}
		closers = append(closers, l.Close)
		var svc fs.Service = l
		if sh != nil {
			if svc, err = sh.Tenant(tenantName(i), cfg.Weights[i], l, cache.Options{}); err != nil {
				return nil, nil, err
			}
			closers = append(closers, svc.Close)
		}
		envs[i] = &workloads.Env{Dir: dirs[i], FS: svc, Pool: i, Seed: cfg.Seed + int64(rep*1000+i)}
		// Prepare through the plain backend: not measured, not cached.
		penv := *envs[i]
		penv.FS = l
		if err := wls[i].Prepare(ctx, &penv); err != nil {
			return nil, nil, err
		}
	}
	if cfg.Warmup > 0 {
		if _, err := runAll(ctx, cfg.Warmup, wls, envs); err != nil {
			return nil, nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	res, err := runAll(ctx, cfg.Duration, wls, envs)
	if err != nil {
		return nil, nil, err
	}
	var stats []cache.TenantStats
	if sh != nil {
		stats = sh.Stats()
	}
	return res, stats, nil
}

// runAll runs every tenant's workload concurrently for d.
func runAll(ctx context.Context, d time.Duration, wls []workloads.Workload, envs []*workloads.Env) ([]*workloads.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	res := make([]*workloads.Result, len(wls))
	errs := make([]error, len(wls))
	var wg sync.WaitGroup
	for i := range wls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i], errs[i] = wls[i].Run(ctx, envs[i])
			if errs[i] == nil && res[i] == nil {
				errs[i] = fmt.Errorf("tenant %d: no result", i)
			}
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

// WriteText prints the report as tables: per setting, each tenant's
// bandwidth, normalized bandwidth and weight, hit ratio and share of
// allocation grants; then PV and Jain's index per setting.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "setting\ttenant\tweight\tMB/s\tnorm BW\tnorm W\thit ratio\tgrants\tpages\t\n")
	for _, s := range r.Settings {
		for _, t := range s.Tenants {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%.2f\t%.2f\t%.2f\t%.3f\t%d\t\n", s.Setting.Label, t.Name, t.Weight,
				t.MBps, t.NormBW, t.NormW, t.HitRatio, t.GrantFrac, t.Stats.Pages)
		}
	}
	fmt.Fprintf(tw, "\t\t\t\t\t\t\t\t\t\n")
	fmt.Fprintf(tw, "setting\tPV\tJain\ttotal MB/s\t\t\t\t\t\t\n")
	for _, s := range r.Settings {
		total := 0.0
		for _, t := range s.Tenants {
			total += t.MBps
		}
		fmt.Fprintf(tw, "%s\t%.3f\t%.3f\t%.1f\t\t\t\t\t\t\n", s.Setting.Label, s.PV, s.Jain, total)
	}
	return tw.Flush()
}
