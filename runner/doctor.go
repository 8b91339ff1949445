package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"polytropon/internal/buildinfo"
	"polytropon/internal/hostcheck"
	"polytropon/runner/config"
	"polytropon/runner/metrics"
	"polytropon/runner/pool"
	"polytropon/systems"
	"polytropon/workloads"
)

// The doctor: what this host can run, collected from the floors that know
// (pools' Requirements, systems' Check and Requirements, workloads' Tools,
// collectors' Requirements), and, for an experiment, what each point will
// do and about how long the run takes. `polytropon doctor` prints it;
// `polytropon run` checks the same before it sets anything up
// (preflight.go).

// CephDialTimeout bounds the doctor's wait for each Ceph monitor: a
// cluster on this host or its network answers in milliseconds, and the
// doctor answers in under a second when there is none.
var CephDialTimeout = 300 * time.Millisecond

// Verdict is what will happen at a point.
type Verdict string

const (
	WillRun  Verdict = "run"  // the point can run
	WillSkip Verdict = "skip" // the runner skips it (system unavailable, too few cores)
	WillFail Verdict = "fail" // it would fail (a workload's program missing, the cluster down)
)

// PointCheck is the doctor's verdict on one point.
type PointCheck struct {
	Point   config.Point
	Verdict Verdict
	Why     string // the reason for skip or fail, a warning for run ("" when none)
}

// Diagnosis is the doctor's answer.
type Diagnosis struct {
	Build buildinfo.Info
	Host  []hostcheck.Item
	// For an experiment: its name, one check per point and the estimated
	// wall time of the run.
	Experiment string
	Points     []PointCheck
	Estimate   Estimate
}

// Estimate is the rough wall time of a run: every point that will run,
// at repetitions.min (Min) and repetitions.max (Max) repetitions, each
// repetition taking warm-up + duration + the set-up cost of its system,
// pools and collectors.
type Estimate struct {
	Min, Max time.Duration
	Points   int                // points counted (those that will run)
	PerRep   time.Duration      // mean time of one repetition over those points
	Reps     config.Repetitions // the experiment's repetitions
}

// Blocked are the points that cannot run (skip or fail).
func (d *Diagnosis) Blocked() []PointCheck {
	var out []PointCheck
	for _, pc := range d.Points {
		if pc.Verdict != WillRun {
			out = append(out, pc)
		}
	}
	return out
}

// Doctor checks the host and, when exp is not nil, each of its points.
// It starts nothing and changes nothing (the Ceph check only dials the
// monitors, each for at most CephDialTimeout).
func Doctor(ctx context.Context, exp *config.Experiment) *Diagnosis {
	d := &Diagnosis{Build: buildinfo.Read()}
	d.Host = append(d.Host, pool.Requirements()...)
	d.Host = append(d.Host, resourceItems()...)
	d.Host = append(d.Host, systems.Requirements()...)
	d.Host = append(d.Host, workloadTools()...)
	for _, c := range metrics.Names() {
		d.Host = append(d.Host, metrics.Requirements(c)...)
	}
	clusters := &clusterChecks{}
	d.Host = append(d.Host, clusterItem(exp, clusters))
	if exp == nil {
		return d
	}
	d.Experiment = exp.Name
	pc := newPointChecker(exp, clusters)
	for _, pt := range exp.Points() {
		d.Points = append(d.Points, pc.check(pt))
	}
	d.Estimate = estimate(exp, d.Points)
	return d
}

// resourceItems are the host's cores and memory.
func resourceItems() []hostcheck.Item {
	cores, _ := pool.HostCores()
	mem := hostcheck.Meminfo("MemAvailable")
	return []hostcheck.Item{
		hostcheck.Found("cores", fmt.Sprintf("%d usable by this process", len(cores)), "pools: cores_per_pool x count"),
		hostcheck.Found("memory", fmt.Sprintf("%.1f GiB available", float64(mem)/(1<<30)), "pools: memory x count"),
	}
}

// workloadTools are the external programs of the registered workloads,
// one item per program naming the workloads that run it, and filebench,
// which none needs.
func workloadTools() []hostcheck.Item {
	users := map[string][]string{}
	var progs []hostcheck.Program
	for _, w := range workloads.Names() {
		for _, p := range workloads.Tools(w) {
			key := p.Names[0]
			if users[key] == nil {
				progs = append(progs, p)
			}
			users[key] = append(users[key], w)
		}
	}
	var items []hostcheck.Item
	for _, p := range progs {
		ws := users[p.Names[0]]
		who := "workload " + ws[0]
		if len(ws) > 1 {
			who = "workloads " + strings.Join(ws, ", ")
		}
		items = append(items, p.Item(who))
	}
	fb := hostcheck.Found("filebench", "not needed: the fileserver, webserver, seqwrite and seqread personalities are Go workloads (Debian 12 has no filebench)", "")
	if path, ok := hostcheck.FindProgram("filebench"); ok {
		fb.Detail = path + " (not used: the personalities are Go workloads)"
	}
	return append(items, fb)
}

// clusterItem is the Ceph cluster the experiment (or, without one,
// $CEPH_CONF, $POLYTROPON_CEPH_CONF or polytropon ceph up's) would use.
// Only an experiment on the ceph backend needs it.
func clusterItem(exp *config.Experiment, clusters *clusterChecks) hostcheck.Item {
	const name = "Ceph cluster"
	who := "the ceph backend (systems D-ceph, F-ceph, FP-ceph, F/F, FP/FP)"
	c := systems.CephCluster{}
	if exp != nil {
		if exp.Backend != "ceph" {
			return hostcheck.Item{Name: name, OK: true, Detail: "not needed by this experiment (backend local)"}
		}
		c = cephCluster(exp)
		who = "experiment " + exp.Name
	}
	conf, err := clusters.check(c, nil)
	switch {
	case err == nil:
		return hostcheck.Found(name, conf+": a monitor answers", who)
	case errors.Is(err, systems.ErrClusterDown):
		return hostcheck.Missing(name, err.Error(), "polytropon ceph up (or point [ceph] conf / $POLYTROPON_CEPH_CONF at a running cluster)", who)
	default:
		it := hostcheck.Missing(name, err.Error(), "polytropon ceph up, or set [ceph] conf / $POLYTROPON_CEPH_CONF", who)
		it.Optional = exp == nil // without an experiment nobody needs it yet
		return it
	}
}

// clusterChecks dials each cluster once.
type clusterChecks struct{ answers map[string]error }

// check finds the cluster of c under a system's options and whether it
// answers; it returns the cluster's ceph.conf.
func (cc *clusterChecks) check(c systems.CephCluster, options any) (string, error) {
	conf, err := systems.ClusterConf(c, options)
	if err != nil {
		return conf, err
	}
	if cc.answers == nil {
		cc.answers = map[string]error{}
	}
	err, ok := cc.answers[conf]
	if !ok {
		err = systems.CheckCluster(conf, CephDialTimeout)
		cc.answers[conf] = err
	}
	return conf, err
}

// pointChecker decides each point's verdict.
type pointChecker struct {
	exp       *config.Experiment
	hostCores int
	memory    int64
	root      bool
	clusters  *clusterChecks
}

func newPointChecker(exp *config.Experiment, clusters *clusterChecks) *pointChecker {
	cores, _ := pool.HostCores()
	return &pointChecker{exp: exp, hostCores: len(cores), memory: hostcheck.Meminfo("MemAvailable"), root: os.Geteuid() == 0, clusters: clusters}
}

func (c *pointChecker) check(pt config.Point) PointCheck {
	pc := PointCheck{Point: pt, Verdict: WillRun}
	if !c.root {
		return PointCheck{Point: pt, Verdict: WillFail, Why: "must run as root (pools need cgroups, namespaces, mounts)"}
	}
	if _, err := pointSystem(c.exp, pt, c.hostCores); err != nil {
		return PointCheck{Point: pt, Verdict: WillSkip, Why: err.Error()}
	}
	if c.exp.Backend == "ceph" {
		opts, _ := c.exp.SystemOptions(pt.System)
		_, err := c.clusters.check(cephCluster(c.exp), opts)
		if errors.Is(err, systems.ErrUnavailable) {
			return PointCheck{Point: pt, Verdict: WillSkip, Why: err.Error()}
		}
		if err != nil {
			return PointCheck{Point: pt, Verdict: WillFail, Why: err.Error()}
		}
	}
	seen := map[int]bool{}
	for _, pl := range c.exp.Layout(pt) {
		if seen[pl.Workload] {
			continue
		}
		seen[pl.Workload] = true
		if err := workloads.CheckTools(c.exp.Workloads[pl.Workload].Name); err != nil {
			return PointCheck{Point: pt, Verdict: WillFail, Why: err.Error()}
		}
	}
	if need := int64(pt.Pools) * int64(c.exp.Pools.Memory); c.memory > 0 && need > c.memory {
		pc.Why = fmt.Sprintf("warning: %d pools x %v of memory = %.1f GiB, more than the %.1f GiB available (pools may be OOM-killed)",
			pt.Pools, c.exp.Pools.Memory, float64(need)/(1<<30), float64(c.memory)/(1<<30))
	}
	return pc
}

// pointSystem returns the point's system when it can run here: it is
// built in, its Check passes, it runs on the experiment's backend, and
// the host has the cores its pools need (or pools.oversubscribe). The
// error says why not; the runner then skips the point.
func pointSystem(exp *config.Experiment, pt config.Point, hostCores int) (systems.System, error) {
	sys, err := systems.Lookup(pt.System)
	if err == nil {
		err = sys.Check()
	}
	if err == nil {
		err = systems.CheckBackend(sys, exp.Backend)
	}
	if need := pt.Pools * exp.Pools.CoresPerPool; err == nil && need > hostCores && !exp.Pools.Oversubscribe {
		err = fmt.Errorf("%d pools x %d cores need %d cores, this host has %d: set pools.oversubscribe = true to share cores",
			pt.Pools, exp.Pools.CoresPerPool, need, hostCores)
	}
	return sys, err
}

// Rough set-up and tear-down costs of one repetition, measured on an idle
// 2-vCPU VM: they make the estimate honest for short repetitions, where
// they are a good part of the wall time.
const (
	poolCost      = 500 * time.Millisecond // cgroups, namespaces, pool engine, agents; and their teardown
	localCost     = 1 * time.Second        // per pool: an ext4 image and loop mount (K), a service and its mounts (D, F)
	cephCost      = 5 * time.Second        // per pool: tenant key, directories, ceph-fuse or libcephfs mounts, and their removal
	bpftraceCost  = 2 * time.Second        // lockwait: bpftrace compiles and attaches its probes
	prepareCost   = 1 * time.Second        // workload Prepare (file sets) inside the repetition
	sharedLowCost = 2 * time.Second        // pools.shared_lower: the image, built once per repetition
)

// repetitionCost is the estimated wall time of one repetition at pt.
func repetitionCost(exp *config.Experiment, pt config.Point) time.Duration {
	d := exp.Run.Warmup.Duration + exp.Run.Duration.Duration + poolCost + prepareCost
	per := localCost
	if exp.Backend == "ceph" {
		per = cephCost
	}
	d += time.Duration(pt.Pools) * per
	if exp.Pools.SharedLower {
		d += sharedLowCost
	}
	collectors := exp.Run.Collectors
	if len(collectors) == 0 {
		collectors = metrics.Names()
	}
	if slices.Contains(collectors, "lockwait") {
		if _, ok := hostcheck.FindProgram(hostcheck.Bpftrace.Names...); ok {
			d += bpftraceCost
		}
	}
	return d
}

func estimate(exp *config.Experiment, points []PointCheck) Estimate {
	reps := exp.Run.Repetitions
	e := Estimate{Reps: reps}
	var sum time.Duration
	for _, pc := range points {
		if pc.Verdict != WillRun {
			continue
		}
		rep := repetitionCost(exp, pc.Point)
		e.Points++
		sum += rep
		e.Min += time.Duration(reps.Min) * rep
		e.Max += time.Duration(reps.Max) * rep
	}
	if e.Points > 0 {
		e.PerRep = sum / time.Duration(e.Points)
	}
	return e
}

// BuildSummary is the binary in one line: version, commit, Go, tags.
func BuildSummary(b buildinfo.Info) string {
	commit := b.Commit
	if commit == "" {
		commit = "unknown"
	} else if len(commit) > 12 {
		commit = commit[:12]
	}
	if b.Dirty {
		commit += "+dirty"
	}
	tags := strings.Join(b.Tags, ",")
	if tags == "" {
		tags = "none"
	}
	return fmt.Sprintf("polytropon %s (commit %s, %s %s/%s, tags %s)", b.Version, commit, b.GoVersion, runtime.GOOS, runtime.GOARCH, tags)
}
