package results

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Files of a run directory OUT/<name>-<timestamp>/.
const (
	ConfigFile     = "config.toml"   // resolved experiment, defaults included
	HostFile       = "host.json"     // provenance (Info)
	SamplesFile    = "samples.jsonl" // one Record per line, appended durably
	SummaryFile    = "summary.csv"   // per point and metric statistics
	BenchFile      = "bench.txt"     // Go benchmark format, for benchstat
	PlotsDir       = "plots"         // figures (.png and .svg)
	IncompleteFile = "INCOMPLETE"    // present until Finish
)

// Errors of the store.
var (
	ErrNotRun     = errors.New("results: not a run directory")
	ErrIncomplete = errors.New("results: run is incomplete")
	ErrClosed     = errors.New("results: run already finished")
)

// Record is one line of samples.jsonl. Kinds:
//   - "instance": one workload instance of one repetition (Result set);
//   - "repetition": closes a repetition of a point: collector Metrics of its
//     window and OK=false when it failed (Error says why). Only repetitions
//     with an OK closing record are summarized, so an interrupted
//     repetition's partial records are kept but ignored. A benchmark that
//     measures its own metrics (the IPC bake-off) writes only this record
//     per repetition, with its Workload and its measured Metrics (declared
//     in Info.Metrics), and no instances;
//   - "skipped": the point was not measured at all; Reason says why (its
//     system is unavailable here, too few cores, ...);
//   - "note": a non-fatal observation about a repetition (cores shared by
//     oversubscribed pools, a collector without data, a mount detached
//     lazily at teardown) in Note, or about the whole run (no Point); see
//     Run.Notes.
//
// Runs written before the "skipped" kind recorded a skip as a failed
// repetition whose Error starts with "skipped: "; SkippedPoints reads both.
type Record struct {
	Kind       string          `json:"kind"`
	Point      string          `json:"point"`  // point name ("system=D/pools=4")
	Params     []Param         `json:"params"` // the point's typed params, in name order
	Repetition int             `json:"rep"`
	Workload   string          `json:"workload,omitempty"`
	Role       string          `json:"role,omitempty"` // "main" or "noise"
	Pool       int             `json:"pool"`
	Instance   int             `json:"instance"`
	Result     *InstanceResult `json:"result,omitempty"`
	Metrics    []Metric        `json:"metrics,omitempty"`
	OK         bool            `json:"ok,omitempty"`
	Error      string          `json:"error,omitempty"`
	Reason     string          `json:"reason,omitempty"` // "skipped"
	Note       string          `json:"note,omitempty"`   // "note"
	Time       time.Time       `json:"time"`
}

// Record kinds.
const (
	KindInstance   = "instance"
	KindRepetition = "repetition"
	KindSkipped    = "skipped"
	KindNote       = "note"
)

// legacySkipPrefix marks a skip in runs written before KindSkipped.
const legacySkipPrefix = "skipped: "

// SkippedPoint is a point that was not measured, and why.
type SkippedPoint struct {
	Point  string
	Params []Param
	Reason string
}

// SkippedPoints lists the skipped points of recs in record order (each
// once), from "skipped" records and from the failed repetitions with a
// "skipped: " error that older runs wrote instead.
func SkippedPoints(recs []Record) []SkippedPoint {
	var out []SkippedPoint
	seen := map[string]bool{}
	for _, rec := range recs {
		reason := ""
		switch {
		case rec.Kind == KindSkipped:
			reason = rec.Reason
		case rec.Kind == KindRepetition && !rec.OK && strings.HasPrefix(rec.Error, legacySkipPrefix):
			reason = strings.TrimPrefix(rec.Error, legacySkipPrefix)
		default:
			continue
		}
		if !seen[rec.Point] {
			seen[rec.Point] = true
			out = append(out, SkippedPoint{Point: rec.Point, Params: rec.Params, Reason: reason})
		}
	}
	return out
}

// RunNote is one distinct note of a run and where it was seen.
type RunNote struct {
	Text   string   `json:"text"`
	Points []string `json:"points"` // in first-seen order
	Count  int      `json:"count"`  // repetitions that noted it
}

// String is the note as shown in summaries: "text (point, point; n
// repetitions)"; a note about the whole run (no point) is its text.
func (n RunNote) String() string {
	if len(n.Points) == 0 {
		return n.Text
	}
	s := n.Text + " (" + strings.Join(n.Points, ", ")
	if n.Count > 1 {
		s += fmt.Sprintf("; %d repetitions", n.Count)
	}
	return s + ")"
}

// Notes groups the "note" records by text, in first-seen order, so a note
// that every repetition makes (a collector without data on this host) is
// listed once with the points it concerns.
func Notes(recs []Record) []RunNote {
	var out []RunNote
	idx := map[string]int{}
	for _, rec := range recs {
		if rec.Kind != KindNote || rec.Note == "" {
			continue
		}
		i, ok := idx[rec.Note]
		if !ok {
			i = len(out)
			idx[rec.Note] = i
			out = append(out, RunNote{Text: rec.Note})
		}
		n := &out[i]
		n.Count++
		if rec.Point != "" && !slices.Contains(n.Points, rec.Point) {
			n.Points = append(n.Points, rec.Point)
		}
	}
	return out
}

// InstanceResult has the fields of workloads.Result in the same order, so
// the runner converts with results.InstanceResult(*r) (results cannot
// import workloads, which imports results).
type InstanceResult struct {
	Ops      int64                 `json:"ops"`
	Bytes    int64                 `json:"bytes"`
	Elapsed  time.Duration         `json:"elapsed_ns"`
	Latency  map[string]*Histogram `json:"latency,omitempty"`
	Counters map[string]float64    `json:"counters,omitempty"`
}

// Metric is one collector value of one repetition: metrics.Metric and
// the rule its collector declares for joining the pools (Agg; "" in runs
// made before the rules, read as DefaultAggregation(Unit)).
type Metric struct {
	Pool   string            `json:"pool,omitempty"`
	Name   string            `json:"name"`
	Unit   string            `json:"unit"`
	Value  float64           `json:"value"`
	Labels map[string]string `json:"labels,omitempty"`
	Agg    Aggregation       `json:"agg,omitempty"`
}

// Param is one typed parameter of a point (see config.Param).
type Param struct {
	Key   string `json:"key"`
	Value any    `json:"value"` // string, int64, float64 or bool
}

// UnmarshalJSON restores integer values as int64.
func (p *Param) UnmarshalJSON(b []byte) error {
	var raw struct {
		Key   string          `json:"key"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	p.Key = raw.Key
	d := json.NewDecoder(bytes.NewReader(raw.Value))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return err
	}
	if n, ok := v.(json.Number); ok {
		if i, err := n.Int64(); err == nil {
			v = i
		} else {
			f, _ := n.Float64()
			v = f
		}
	}
	p.Value = v
	return nil
}

// Info is host.json: provenance of the run and what BuildTable needs to
// re-derive metrics from the stored samples.
type Info struct {
	Experiment string    `json:"experiment"`
	MainMetric string    `json:"main_metric,omitempty"`
	Weights    []float64 `json:"weights,omitempty"` // [tenants] weights: tenant i = pool i, or container i of the only pool
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"`
	Host       Host      `json:"host"`
	// Notes are the run's notes (Notes of its records), stored when the
	// run finishes or is closed, so host.json says on what terms the
	// numbers were taken (oversubscribed cores, collectors without data).
	Notes []RunNote `json:"notes,omitempty"`
	// Metrics declare the unit and direction of metrics the run measures
	// itself (in the Metrics of its repetition records) rather than
	// deriving them from workload results: the benchmark subcommands'
	// runs, which have no experiment file. See Describe.
	Metrics []MetricInfo `json:"metrics,omitempty"`
	// AB describes an interleaved A/B run (polytropon ab): its points
	// carry a "side" param, base or new; see GateAB.
	AB *ABInfo `json:"ab,omitempty"`
}

// Host is the provenance of the machine and the tool (see CollectHost).
type Host struct {
	Hostname     string            `json:"hostname"`
	Kernel       string            `json:"kernel"`
	CPUModel     string            `json:"cpu_model"`
	Cores        int               `json:"cores"`
	MemoryBytes  int64             `json:"memory_bytes"`
	CgroupMode   string            `json:"cgroup_mode"` // "v2", "v1", "hybrid"
	GoVersion    string            `json:"go_version"`
	Version      string            `json:"version,omitempty"`    // the binary's module version (buildinfo)
	BuildTags    []string          `json:"build_tags,omitempty"` // e.g. ["ceph", "pacific"]
	GitCommit    string            `json:"git_commit,omitempty"`
	GitDirty     bool              `json:"git_dirty,omitempty"`
	CommandLine  []string          `json:"command_line"`
	ToolVersions map[string]string `json:"tool_versions,omitempty"` // e.g. "fio": "fio-3.33"
}

// Run is one run directory, being written (Create) or loaded (Open).
type Run struct {
	Dir     string
	Info    Info
	Config  []byte   // config.toml as stored
	Records []Record // loaded by Open, or appended so far

	mu       sync.Mutex
	samples  *os.File // nil once finished or when opened read-only
	finished bool
}

var runNameRE = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// Create makes the run directory OUT/<name>-<UTC timestamp>/ (with a
// numeric suffix if that exists), its INCOMPLETE marker and an empty
// samples.jsonl.
func Create(outDir, name string) (*Run, error) {
	if name == "" {
		name = "run"
	}
	name = runNameRE.ReplaceAllString(name, "_")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	start := time.Now().UTC()
	base := filepath.Join(outDir, name+"-"+start.Format("20060102T150405Z"))
	dir := base
	for i := 2; ; i++ {
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			break
		}
		if !errors.Is(err, os.ErrExist) || i > 1000 {
			return nil, fmt.Errorf("results: %w", err)
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
	r := &Run{Dir: dir, Info: Info{Experiment: name, Start: start}}
	if err := writeFileSync(filepath.Join(dir, IncompleteFile), []byte("run in progress or interrupted; see samples.jsonl\n")); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, SamplesFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	r.samples = f
	if err := os.Mkdir(filepath.Join(dir, PlotsDir), 0o755); err != nil {
		f.Close()
		return nil, fmt.Errorf("results: %w", err)
	}
	return r, syncDir(dir)
}

// WriteConfig stores the resolved experiment as config.toml.
func (r *Run) WriteConfig(text []byte) error {
	r.Config = bytes.Clone(text)
	return writeFileSync(filepath.Join(r.Dir, ConfigFile), text)
}

// WriteInfo stores host.json; Start is kept from Create when info.Start is
// zero.
func (r *Run) WriteInfo(info Info) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if info.Start.IsZero() {
		info.Start = r.Info.Start
	}
	r.Info = info
	return r.writeInfoLocked()
}

func (r *Run) writeInfoLocked() error {
	b, err := json.MarshalIndent(r.Info, "", "  ")
	if err != nil {
		return fmt.Errorf("results: host.json: %w", err)
	}
	return writeFileSync(filepath.Join(r.Dir, HostFile), append(b, '\n'))
}

// Append writes one record durably (write + fsync), so an interrupted run
// keeps every record appended before the interruption. Safe for
// concurrent use.
func (r *Run) Append(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("results: encode record: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples == nil {
		return ErrClosed
	}
	if _, err := r.samples.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("results: append sample: %w", err)
	}
	if err := r.samples.Sync(); err != nil {
		return fmt.Errorf("results: sync samples: %w", err)
	}
	r.Records = append(r.Records, rec)
	return nil
}

// Notes are the notes of the records so far (see Notes).
func (r *Run) Notes() []RunNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	return Notes(r.Records)
}

// Finish writes summary.csv and bench.txt from the records, records the end
// time and removes INCOMPLETE. Call it when every point ran; an
// interrupted run calls Close instead and stays marked incomplete (Open
// still loads it).
func (r *Run) Finish() (*Table, error) {
	r.mu.Lock()
	if r.finished {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.finished = true
	r.Info.End = time.Now().UTC()
	r.Info.Notes = Notes(r.Records)
	err := r.writeInfoLocked()
	r.mu.Unlock()
	if err != nil {
		return nil, err
	}
	t, err := r.writeDerived()
	if err != nil {
		return nil, err
	}
	if err := r.Close(); err != nil {
		return nil, err
	}
	if err := os.Remove(filepath.Join(r.Dir, IncompleteFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("results: %w", err)
	}
	return t, syncDir(r.Dir)
}

// writeDerived writes summary.csv and bench.txt (atomically: temp + rename).
func (r *Run) writeDerived() (*Table, error) {
	t := r.Table()
	var sum, bench bytes.Buffer
	if err := t.WriteCSV(&sum); err != nil {
		return nil, err
	}
	if err := r.WriteBench(&bench); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(filepath.Join(r.Dir, SummaryFile), sum.Bytes()); err != nil {
		return nil, err
	}
	return t, writeFileAtomic(filepath.Join(r.Dir, BenchFile), bench.Bytes())
}

// Close stops appending (records so far stay on disk) and stores the notes
// so far in host.json. Idempotent.
func (r *Run) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.samples == nil {
		return nil
	}
	err := r.samples.Close()
	r.samples = nil
	if notes := Notes(r.Records); len(notes) > 0 && !slices.Equal(notesText(notes), notesText(r.Info.Notes)) {
		r.Info.Notes = notes
		err = errors.Join(err, r.writeInfoLocked())
	}
	return err
}

func notesText(ns []RunNote) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String()
	}
	return out
}

// Complete reports whether the run finished (no INCOMPLETE marker).
func (r *Run) Complete() bool {
	_, err := os.Stat(filepath.Join(r.Dir, IncompleteFile))
	return errors.Is(err, os.ErrNotExist)
}

// Open loads a run directory: config, info and every record. An incomplete
// run loads too (check Complete); a torn last line of samples.jsonl (crash
// mid-write) is dropped with a warning.
func Open(dir string) (*Run, []error, error) {
	r := &Run{Dir: dir, finished: true}
	var warn []error
	b, err := os.ReadFile(filepath.Join(dir, HostFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNotRun, dir, err)
	}
	if err := json.Unmarshal(b, &r.Info); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNotRun, filepath.Join(dir, HostFile), err)
	}
	if r.Config, err = os.ReadFile(filepath.Join(dir, ConfigFile)); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNotRun, dir, err)
	}
	f, err := os.Open(filepath.Join(dir, SamplesFile))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNotRun, dir, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			var rec Record
			if jerr := json.Unmarshal(b, &rec); jerr != nil {
				if err == io.EOF { // torn final line of an interrupted run
					warn = append(warn, fmt.Errorf("results: %s:%d: dropped incomplete last record", filepath.Join(dir, SamplesFile), line))
					break
				}
				return nil, nil, fmt.Errorf("results: %s:%d: %v", filepath.Join(dir, SamplesFile), line, jerr)
			}
			r.Records = append(r.Records, rec)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("results: %w", err)
		}
	}
	if !r.Complete() {
		warn = append(warn, fmt.Errorf("%w: %s (interrupted or still running)", ErrIncomplete, dir))
	}
	return r, warn, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("results: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("results: %w", err)
	}
	return f.Close()
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, data); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("results: sync %s: %w", dir, err)
	}
	return nil
}
