package workloads

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"polytropon/results"
)

var (
	sysbenchHistLine = regexp.MustCompile(`^\s*([0-9.]+) \|[* ]*\s([0-9]+)$`)
	sysbenchStat     = regexp.MustCompile(`^\s+([a-zA-Z0-9 ,/]+):\s+([0-9.]+)s?$`)
	sysbenchKeys     = map[string]string{
		"events per second": "events_per_sec",
		"reads/s":           "reads_per_sec",
		"writes/s":          "writes_per_sec",
		"fsyncs/s":          "fsyncs_per_sec",
		"read, MiB/s":       "read_mib_per_sec",
		"written, MiB/s":    "written_mib_per_sec",
	}
)

// parseSysbench parses the report of a sysbench 1.0 "run": "total number of
// events" is Ops, "total time" Elapsed; events per second, the fileio
// rates (reads_per_sec, writes_per_sec, fsyncs_per_sec, read_mib_per_sec,
// written_mib_per_sec) and the "Latency (ms)" block (latency_min_ms,
// latency_avg_ms, latency_max_ms, latency_p<P>_ms, latency_sum_ms) become
// counters; Bytes = (read + written MiB/s) x 2^20 x total time; the
// --histogram table (a value in ms and a count per line) becomes
// Latency["event"] and ["all"].
func parseSysbench(name string, out []byte) (*Result, error) {
	res := &Result{Latency: map[string]*results.Histogram{}, Counters: map[string]float64{}}
	h := results.NewHistogram()
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := sysbenchHistLine.FindStringSubmatch(line); m != nil && section == "histogram" {
			ms, _ := strconv.ParseFloat(m[1], 64)
			n, _ := strconv.ParseInt(m[2], 10, 64)
			for range n {
				h.Record(time.Duration(ms * float64(time.Millisecond)))
			}
			continue
		}
		switch t := strings.TrimSpace(line); {
		case strings.HasPrefix(t, "Latency histogram"):
			section = "histogram"
			continue
		case t == "Latency (ms):":
			section = "latency"
			continue
		case strings.HasSuffix(t, ":") && !strings.HasPrefix(line, " "):
			section = strings.TrimSuffix(t, ":")
			continue
		}
		m := sysbenchStat.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key := strings.TrimSpace(m[1])
		f, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			continue
		}
		switch {
		case key == "total time":
			res.Elapsed = time.Duration(f * float64(time.Second))
		case key == "total number of events":
			res.Ops = int64(f)
		case section == "latency":
			if p, ok := strings.CutSuffix(key, "th percentile"); ok {
				key = "p" + p
			}
			res.Counters["latency_"+key+"_ms"] = f
		case sysbenchKeys[key] != "":
			res.Counters[sysbenchKeys[key]] = f
		}
	}
	if res.Ops == 0 || res.Elapsed == 0 {
		return nil, fmt.Errorf("workloads: %s: no \"total number of events\"/\"total time\" in sysbench output: %s", name, tail(out, 400))
	}
	mib := res.Counters["read_mib_per_sec"] + res.Counters["written_mib_per_sec"]
	res.Bytes = int64(mib * (1 << 20) * res.Elapsed.Seconds())
	if h.Count() > 0 {
		res.Latency["event"] = h
		all := results.NewHistogram()
		all.Merge(h)
		res.Latency["all"] = all
	}
	return res, nil
}
