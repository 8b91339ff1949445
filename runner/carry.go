package runner

import (
	"polytropon/results"
	"polytropon/runner/config"
)

// carry stores again, in this run, the records of a point that an earlier
// run of the same experiment finished (Options.Carry), instead of
// measuring it: an interrupted reproduction resumes with the point it was
// measuring.
func (r *runState) carry(pt config.Point, recs []results.Record) (*PointOutcome, error) {
	po := &PointOutcome{Point: pt}
	for _, rec := range recs {
		if err := r.rec.run.Append(rec); err != nil {
			return po, err
		}
		switch {
		case rec.Kind == results.KindSkipped:
			po.Skipped = rec.Reason
		case rec.Kind == results.KindRepetition && rec.OK:
			po.Repetitions = append(po.Repetitions, &Repetition{Point: pt.Index, Index: rec.Repetition, Start: rec.Time})
		}
	}
	r.prog.logf("point %s: kept from an earlier run (%d repetitions)", pt.Name(), len(po.Repetitions))
	return po, nil
}
