package results

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/BurntSushi/toml"
)

// Recorder keeps the records of a program that measures its own points
// (the bake-offs: queuebench, copybench, cachebench): in memory, and with
// a directory also in a run directory as they come, so an interrupted run
// keeps what it measured (marked incomplete). Such a run is read, compared
// and redrawn like a harness run.
type Recorder struct {
	run     *Run     // nil: in memory only
	recs    []Record // without run
	weights []float64
}

// NewRecorder starts recording. With dir it creates the run directory
// dir/<name>-<UTC time>/ with settings (the resolved configuration,
// written as TOML) as config.toml and info as host.json (its Experiment
// becomes name); without, records stay in memory.
func NewRecorder(dir, name string, settings any, info Info) (*Recorder, error) {
	r := &Recorder{weights: info.Weights}
	if dir == "" {
		return r, nil
	}
	var text bytes.Buffer
	fmt.Fprintf(&text, "# polytropon %s: the configuration of this run, defaults resolved\n", name)
	if err := toml.NewEncoder(&text).Encode(settings); err != nil {
		return nil, fmt.Errorf("results: encode the settings of %s: %w", name, err)
	}
	run, err := Create(dir, name)
	if err != nil {
		return nil, err
	}
	info.Experiment = name
	if err := errors.Join(run.WriteConfig(text.Bytes()), run.WriteInfo(info)); err != nil {
		run.Close()
		return nil, err
	}
	r.run = run
	return r, nil
}

// Add records recs.
func (r *Recorder) Add(recs ...Record) error {
	if r.run == nil {
		r.recs = append(r.recs, recs...)
		return nil
	}
	for _, rec := range recs {
		if err := r.run.Append(rec); err != nil {
			return err
		}
	}
	return nil
}

// Note records a note about the whole run.
func (r *Recorder) Note(text string) error {
	return r.Add(Record{Kind: KindNote, Note: text, Time: time.Now().UTC()})
}

// Run is the run directory being written, nil without one.
func (r *Recorder) Run() *Run { return r.run }

// Finish summarizes the records; with a run directory it also writes
// summary.csv and bench.txt and marks the run complete (draw its figures
// with Run().DrawPlots).
func (r *Recorder) Finish() (*Table, error) {
	if r.run == nil {
		return BuildTable(r.recs, r.weights), nil
	}
	return r.run.Finish()
}

// Close leaves a run directory that Finish did not complete marked
// incomplete; it does nothing after Finish.
func (r *Recorder) Close() {
	if r.run != nil {
		r.run.Close()
	}
}
