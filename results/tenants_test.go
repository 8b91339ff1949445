package results

import (
	"math"
	"strings"
	"testing"
	"time"
)

// TestContainerTenants: with one pool whose containers are the tenants
// (as many containers as weights), each repetition gets per-container
// throughput (@c<i>) and PV/Jain over the containers, per point, and the
// proportionality plot draws one line per point from them.
func TestContainerTenants(t *testing.T) {
	weights := []float64{100, 200, 400}
	var recs []Record
	// Point "conventional": 30, 30, 30 MB/s; point "justitia": 10, 20, 40.
	for _, pt := range []struct {
		name string
		mbps []float64
	}{{"conventional", []float64{30, 30, 30}}, {"justitia", []float64{10, 20, 40}}} {
		params := []Param{{"system", "D"}, {"pools", int64(1)}, {"tenants.policy", pt.name}}
		point := "system=D/pools=1/tenants.policy=" + pt.name
		for rep := 1; rep <= 2; rep++ {
			for c, mb := range pt.mbps {
				recs = append(recs, Record{Kind: KindInstance, Point: point, Params: params, Repetition: rep, Workload: "seqread",
					Role: "main", Pool: 0, Instance: c,
					Result: &InstanceResult{Ops: 10, Bytes: int64(mb * 1e6 * 2), Elapsed: 2 * time.Second}})
			}
			recs = append(recs, Record{Kind: KindRepetition, Point: point, Params: params, Repetition: rep, OK: true})
		}
	}
	_, _, values := RepetitionValues(recs, weights)
	for point, want := range map[string]map[string]float64{
		// 30/30/30 vs 1:2:4: |1-1|+|1-2|+|1-4| = 4, /3; x = .3,.15,.075: Jain = .525²/(3·.118125).
		"system=D/pools=1/tenants.policy=conventional": {"throughput_mbps": 90, "throughput_mbps@c0": 30, "throughput_mbps@c2": 30,
			"pv": 4.0 / 3, "jain": 0.525 * 0.525 / (3 * 0.118125)},
		"system=D/pools=1/tenants.policy=justitia": {"throughput_mbps@c0": 10, "throughput_mbps@c1": 20, "throughput_mbps@c2": 40,
			"ops_per_sec@c1": 5, "pv": 0, "jain": 1},
	} {
		v := values[point][2]
		for k, w := range want {
			if got, ok := v[k]; !ok || math.Abs(got-w) > 1e-9 {
				t.Errorf("%s: %s = %v (present %v), want %v", point, k, got, ok, w)
			}
		}
		if _, ok := v["throughput_mbps@c3"]; ok {
			t.Errorf("%s: a fourth container metric", point)
		}
	}
	// Pools that are not tenants (two pools, three weights): no PV.
	recs[0].Pool = 1
	_, _, values = RepetitionValues(recs, weights)
	if _, ok := values["system=D/pools=1/tenants.policy=conventional"][1]["pv"]; ok {
		t.Errorf("pv computed although neither pools nor containers match the weights")
	}
	recs[0].Pool = 0

	tab := BuildTable(recs, weights)
	svg := string(renderSVG(t, PlotSpec{Kind: "proportionality", Y: MetricThroughput, File: "prop"}, tab, weights))
	for _, want := range []string{"tenants.policy=conventional (PV 1.33)", "tenants.policy=justitia (PV 0.00)", "ideal (weight ratio)"} {
		if !strings.Contains(svg, want) {
			t.Errorf("proportionality plot lacks legend %q", want)
		}
	}
}
