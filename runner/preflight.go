package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"polytropon/runner/config"
)

// ErrCannotRun means the pre-run check found points this host cannot run
// (they would be skipped or fail); Options.GoOn runs the others anyway.
var ErrCannotRun = errors.New("runner: some points cannot run on this host")

// preflight is the doctor's check of exp before anything is set up: with
// points that cannot run it refuses (ErrCannotRun, listing them and why)
// unless opts.GoOn, so a long run does not end with skipped or failed
// points that could have been fixed first. It prints the estimated wall
// time.
func preflight(ctx context.Context, exp *config.Experiment, opts Options) error {
	d := Doctor(ctx, exp)
	blocked := d.Blocked()
	if est := d.Estimate; est.Points > 0 {
		fmt.Fprintf(opts.Stderr, "polytropon run %s: %d of %d points can run, estimated wall time %s\n",
			exp.Name, est.Points, len(d.Points), est.Span())
	}
	if len(blocked) == 0 {
		return nil
	}
	if opts.GoOn {
		fmt.Fprintf(opts.Stderr, "polytropon run %s: going on without %d points (-go-on):\n", exp.Name, len(blocked))
		writePointChecks(opts.Stderr, blocked)
		return nil
	}
	var b strings.Builder
	writePointChecks(&b, blocked)
	file := exp.File
	if file == "" {
		file = "FILE.toml"
	}
	return fmt.Errorf("%w: %d of %d points of %s:\n%s(fix what they lack, see polytropon doctor %s; or pass -go-on to measure the others)",
		ErrCannotRun, len(blocked), len(d.Points), exp.Name, b.String(), file)
}

// writePointChecks lists points with their verdict and reason.
func writePointChecks(w io.Writer, pcs []PointCheck) {
	for _, pc := range pcs {
		why := ""
		if pc.Why != "" {
			why = ": " + pc.Why
		}
		fmt.Fprintf(w, "  %-4s  %s%s\n", pc.Verdict, pc.Point.Name(), why)
	}
}

// Span is the estimate as "3m10s" or "3m10s to 9m30s" (repetitions.min
// to .max), rounded to seconds.
func (e Estimate) Span() string {
	lo, hi := e.Min.Round(time.Second), e.Max.Round(time.Second)
	if lo == hi {
		return lo.String()
	}
	return lo.String() + " to " + hi.String()
}
