package results

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// An interleaved A/B run (polytropon ab) is one run directory holding
// both sides: every point of the experiment twice, with a last param
// "side" = "base" or "new" ("system=D/pools=1/side=base"), and the
// repetition number of a record is its round. Within a round the two
// sides ran back to back on the same host with the same preparation,
// base first in rounds with Order "AB" and second in "BA" (ABBA...), so
// drift of the host cancels in each round's pair.
const (
	SideParam = "side"
	SideBase  = "base"
	SideNew   = "new"
)

// ABInfo is host.json's description of an A/B run.
type ABInfo struct {
	Base   ABSide   `json:"base"`
	New    ABSide   `json:"new"`
	Rounds int      `json:"rounds"`
	Order  []string `json:"order"` // per round: "AB" (base first) or "BA"
}

// ABSide is the build one side ran.
type ABSide struct {
	Spec   string `json:"spec"`   // as given: a binary or a commit
	Commit string `json:"commit"` // the commit it was built from, when known
	Binary string `json:"binary"`
	Host   Host   `json:"host"` // the side's own provenance (first round)
}

// SideRecord is rec as side records it in an A/B run: the "side" param
// appended to the point.
func SideRecord(rec Record, side string, round int) Record {
	rec.Repetition = round
	if rec.Point != "" {
		rec.Point += "/" + SideParam + "=" + side
		rec.Params = append(slices.Clone(rec.Params), Param{Key: SideParam, Value: side})
	}
	return rec
}

// SideRecords are the records of one side of an A/B run as that side's
// own run would have them (the "side" param removed); notes about the
// whole run are in both.
func SideRecords(recs []Record, side string) []Record {
	suffix := "/" + SideParam + "=" + side
	var out []Record
	for _, rec := range recs {
		if rec.Point == "" {
			out = append(out, rec)
			continue
		}
		if !strings.HasSuffix(rec.Point, suffix) {
			continue
		}
		rec.Point = strings.TrimSuffix(rec.Point, suffix)
		rec.Params = slices.DeleteFunc(slices.Clone(rec.Params), func(p Param) bool { return p.Key == SideParam })
		out = append(out, rec)
	}
	return out
}

// GateAB gates an interleaved A/B run: each metric at each point by its
// rounds, paired (a t-test on the per-round log ratios new/base).
func GateAB(ab *Run, opts GateOptions) (*GateReport, error) {
	if ab.Info.AB == nil {
		return nil, fmt.Errorf("results: %s is not an A/B run (no \"ab\" in %s); compare two runs with Gate", ab.Dir, HostFile)
	}
	label := filepath.Base(ab.Dir)
	in := ab.Info.AB
	b := newGateSide(label+" base ("+sideName(in.Base)+")", ab.Info, in.Base.Host, ab.Config, SideRecords(ab.Records, SideBase))
	n := newGateSide(label+" new ("+sideName(in.New)+")", ab.Info, in.New.Host, ab.Config, SideRecords(ab.Records, SideNew))
	rep, err := gate(b, n, true, opts)
	if err != nil {
		return nil, err
	}
	if !ab.Complete() {
		rep.Warnings = append(rep.Warnings, "the A/B run is incomplete (interrupted): its missing rounds are not gated")
	}
	rep.settle()
	return rep, nil
}

func sideName(s ABSide) string {
	name := s.Spec
	if s.Commit != "" && !strings.HasPrefix(s.Commit, s.Spec) {
		c := s.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		name += " " + c
	}
	return name
}
