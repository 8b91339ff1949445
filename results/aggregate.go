package results

// collectorValues adds the collectors' metrics of one repetition to out.
// name@p<i> is one pool's value; the plain name joins the pools by the
// metric's rule (Metric.Agg: a sum of seconds or bytes, the mean or max
// of ratios, nothing for per-pool-only metrics). A host-wide value (no
// pool: every task, kernel threads included) of a metric that also has
// per-pool values is name@host, so that it is not joined with the pools';
// a metric that only exists host-wide keeps its plain name.
func collectorValues(out map[string]float64, ms []Metric) {
	type joined struct {
		agg      Aggregation
		sum, max float64
		n        int
	}
	pools := map[string]*joined{}
	var order []string
	for _, m := range ms {
		if m.Pool == "" {
			continue
		}
		key := m.Name + labelSuffix(m.Labels)
		j := pools[key]
		if j == nil {
			agg := m.Agg
			if agg == "" {
				agg = DefaultAggregation(m.Unit)
			}
			j = &joined{agg: agg, max: m.Value}
			pools[key] = j
			order = append(order, key)
		}
		j.sum += m.Value
		j.max = max(j.max, m.Value)
		j.n++
		out[key+"@"+m.Pool] += m.Value
	}
	for _, key := range order {
		switch j := pools[key]; j.agg {
		case AggMean:
			out[key] = j.sum / float64(j.n)
		case AggMax:
			out[key] = j.max
		case AggPoolOnly:
		default:
			out[key] = j.sum
		}
	}
	for _, m := range ms {
		if m.Pool != "" {
			continue
		}
		key := m.Name + labelSuffix(m.Labels)
		if pools[key] != nil {
			out[key+"@host"] += m.Value
		} else {
			out[key] += m.Value
		}
	}
}
