// Package reproduce runs the papers' figures as experiments and checks
// the papers' claims against them: the claims are data
// (experiments/claims/papers.toml), each a ratio of one metric at two
// points of one experiment; Run measures every experiment the chosen
// claims need at one scale (keeping runs that finished), Evaluate computes
// each claim's ratio with its 95% confidence interval and a verdict, and
// the report is written as Markdown and as a self-contained HTML page.
package reproduce

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// ClaimsFile is the papers' claims, relative to the experiments directory.
const ClaimsFile = "claims/papers.toml"

// Claim is one [[claim]] of the claims file.
type Claim struct {
	ID         string `toml:"id"`
	Figure     string `toml:"figure"`
	Text       string `toml:"text"`
	Experiment string `toml:"experiment"`
	Metric     string `toml:"metric"`
	// Numerator and Denominator select the two points by param (system
	// as a paper label, pools, containers, noise, ...; "max" / "min" the
	// largest / smallest value of the run); "metric" overrides Metric.
	Numerator   map[string]any `toml:"numerator"`
	Denominator map[string]any `toml:"denominator"`
	Where       map[string]any `toml:"where"` // params of both points
	Paper       float64        `toml:"paper"` // the paper's ratio
	Plot        string         `toml:"plot"`  // the figure shown beside it
}

// LoadClaims reads the claims file strictly: an unknown key, a missing
// field or a duplicate id is an error naming the claim.
func LoadClaims(path string) ([]Claim, error) {
	var f struct {
		Claims []Claim `toml:"claim"`
	}
	md, err := toml.DecodeFile(path, &f)
	if err != nil {
		return nil, fmt.Errorf("reproduce: %s: %w", path, err)
	}
	var errs []string
	for _, k := range md.Undecoded() {
		errs = append(errs, fmt.Sprintf("unknown key %q", k.String()))
	}
	seen := map[string]bool{}
	for i, c := range f.Claims {
		at := fmt.Sprintf("claim[%d] %q", i, c.ID)
		switch {
		case c.ID == "":
			errs = append(errs, at+": no id")
		case seen[c.ID]:
			errs = append(errs, at+": id used twice")
		}
		seen[c.ID] = true
		if c.Figure == "" || c.Text == "" || c.Experiment == "" || c.Metric == "" {
			errs = append(errs, at+": figure, text, experiment and metric are required")
		}
		if c.Paper <= 0 || c.Paper == 1 {
			errs = append(errs, fmt.Sprintf("%s: paper = %g: want the paper's ratio, > 0 and not 1", at, c.Paper))
		}
		if len(c.Numerator) == 0 || len(c.Denominator) == 0 {
			errs = append(errs, at+": numerator and denominator must select a point each")
		}
		for _, side := range []map[string]any{c.Numerator, c.Denominator} {
			if m, ok := side["metric"]; ok {
				if _, isStr := m.(string); !isStr {
					errs = append(errs, fmt.Sprintf("%s: metric = %v: want a string", at, m))
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("reproduce: %s:\n  %s", path, strings.Join(errs, "\n  "))
	}
	return f.Claims, nil
}

// Metrics are the metrics a claim reads (the numerator's and the
// denominator's).
func (c Claim) Metrics() []string {
	out := []string{c.metricOf(c.Numerator)}
	if m := c.metricOf(c.Denominator); m != out[0] {
		out = append(out, m)
	}
	return out
}

func (c Claim) metricOf(side map[string]any) string {
	if m, ok := side["metric"].(string); ok {
		return m
	}
	return c.Metric
}

// Select keeps the claims whose figure or experiment one of names
// matches ("7a", "Fig 7a", "fig7a-rocksdb-put-scaleout"); all when names
// is empty. An name that matches nothing is an error.
func Select(claims []Claim, names []string) ([]Claim, error) {
	if len(names) == 0 {
		return claims, nil
	}
	var out []Claim
	for _, n := range names {
		found := false
		for _, c := range claims {
			if matchesName(c, n) {
				found = true
				if !slices.ContainsFunc(out, func(o Claim) bool { return o.ID == c.ID }) {
					out = append(out, c)
				}
			}
		}
		if !found {
			return nil, fmt.Errorf("reproduce: no claim of figure or experiment %q (figures: %s)", n, strings.Join(figures(claims), ", "))
		}
	}
	return out, nil
}

func matchesName(c Claim, n string) bool {
	norm := func(s string) string {
		return strings.ToLower(strings.TrimPrefix(strings.ToLower(strings.TrimSpace(s)), "fig "))
	}
	return norm(c.Figure) == norm(n) || c.Experiment == n || c.ID == n || strings.TrimPrefix(norm(n), "fig") == norm(c.Figure)
}

func figures(claims []Claim) []string {
	var out []string
	for _, c := range claims {
		if !slices.Contains(out, c.Figure) {
			out = append(out, c.Figure)
		}
	}
	return out
}

// Experiments lists the experiments the claims need, in claim order.
func Experiments(claims []Claim) []string {
	var out []string
	for _, c := range claims {
		if !slices.Contains(out, c.Experiment) {
			out = append(out, c.Experiment)
		}
	}
	return out
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
