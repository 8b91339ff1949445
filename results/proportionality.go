package results

import (
	"fmt"
	"math"
)

// PV is the proportionality variation of the Justitia experiments (digest
// section 5): bandwidths and weights are normalized to those of the
// lowest-weight tenant (the first such tenant on a tie) and
//
//	PV = (1/n) * Σ_i |B_i/B_ref - W_i/W_ref|
//
// over all n tenants; 0 means bandwidth exactly proportional to weight.
func PV(bandwidths []float64, weights []float64) (float64, error) {
	ref, err := checkTenants(bandwidths, weights)
	if err != nil {
		return math.NaN(), err
	}
	if bandwidths[ref] <= 0 {
		return math.NaN(), fmt.Errorf("results: PV: the lowest-weight tenant %d has bandwidth %g; cannot normalize", ref, bandwidths[ref])
	}
	sum := 0.0
	for i := range bandwidths {
		sum += math.Abs(bandwidths[i]/bandwidths[ref] - weights[i]/weights[ref])
	}
	return sum / float64(len(bandwidths)), nil
}

// NormalizedBandwidths returns B_i/B_ref and W_i/W_ref as PV uses them (for
// the normalized-bandwidth-vs-weight plot).
func NormalizedBandwidths(bandwidths, weights []float64) (nb, nw []float64, err error) {
	ref, err := checkTenants(bandwidths, weights)
	if err != nil {
		return nil, nil, err
	}
	for i := range bandwidths {
		nb = append(nb, bandwidths[i]/bandwidths[ref])
		nw = append(nw, weights[i]/weights[ref])
	}
	return nb, nw, nil
}

// Jain is Jain's fairness index over the weight-normalized bandwidths
// x_i = B_i/W_i: (Σx)² / (n·Σx²); 1 when every tenant gets bandwidth in
// proportion to its weight, 1/n when one tenant gets everything.
func Jain(bandwidths []float64, weights []float64) (float64, error) {
	if _, err := checkTenants(bandwidths, weights); err != nil {
		return math.NaN(), err
	}
	sum, sq := 0.0, 0.0
	for i := range bandwidths {
		x := bandwidths[i] / weights[i]
		sum += x
		sq += x * x
	}
	if sq == 0 {
		return math.NaN(), fmt.Errorf("results: Jain: every tenant has zero bandwidth")
	}
	return sum * sum / (float64(len(bandwidths)) * sq), nil
}

// checkTenants validates the inputs and returns the lowest-weight tenant.
func checkTenants(bandwidths, weights []float64) (int, error) {
	if len(bandwidths) == 0 || len(bandwidths) != len(weights) {
		return 0, fmt.Errorf("results: %d bandwidths for %d weights: want one of each per tenant", len(bandwidths), len(weights))
	}
	ref := 0
	for i, w := range weights {
		if !(w > 0) {
			return 0, fmt.Errorf("results: tenant %d has weight %g: weights must be positive", i, w)
		}
		if bandwidths[i] < 0 || math.IsNaN(bandwidths[i]) {
			return 0, fmt.Errorf("results: tenant %d has bandwidth %g", i, bandwidths[i])
		}
		if w < weights[ref] {
			ref = i
		}
	}
	return ref, nil
}
