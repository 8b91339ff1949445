package workloads

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
	"polytropon/results"
)

func init() {
	Register("rocksdb", func() Workload {
		// The papers' RocksDB runs: 1 thread, 9-byte keys, 128 KB values,
		// 1 GB put; get fills 8 GB then reads 8 GB (read_bytes = "8g",
		// total_bytes = "8g"); Polytropon's mixed is 50/50.
		return &RocksDB{
			Mode:             "put",
			Fill:             "fillrandom",
			DBDir:            "rocksdb",
			Threads:          1,
			KeySize:          9,
			ValueSize:        128 << 10,
			TotalBytes:       1 << 30,
			ReadBytes:        1 << 30,
			ReadWritePercent: 50,
		}
	})
}

// RocksDB runs db_bench (Debian package rocksdb-tools). Modes:
//   - put: Prepare removes the database; Run is Fill (fillrandom or
//     fillseq) of TotalBytes/ValueSize keys.
//   - get: Prepare removes the database and fills it with fillseq
//     (TotalBytes, not measured); Run is readrandom of ReadBytes/ValueSize
//     keys.
//   - mixed: same fill; Run is readrandomwriterandom with
//     ReadWritePercent reads, ReadBytes/ValueSize ops.
//
// Latency comes from db_bench's --histogram=1 tables (see Report).
type RocksDB struct {
	Mode             string        `toml:"mode"`
	Fill             string        `toml:"fill"` // put mode: fillrandom or fillseq
	DBDir            string        `toml:"db_dir"`
	Threads          int           `toml:"threads"`
	KeySize          int           `toml:"key_size"`
	ValueSize        units.Size    `toml:"value_size"`
	TotalBytes       units.Size    `toml:"total_bytes"` // --num = total_bytes / value_size (per thread)
	ReadBytes        units.Size    `toml:"read_bytes"`  // --reads = read_bytes / value_size (per thread)
	ReadWritePercent int           `toml:"readwritepercent"`
	Compression      string        `toml:"compression"` // --compression_type; "" keeps db_bench's default
	Duration         time.Duration `toml:"duration"`    // --duration; 0 = the key counts decide
	ExtraArgs        []string      `toml:"extra_args"`  // more --flags, passed as is

	binary string
}

func (w *RocksDB) Name() string { return "rocksdb" }

// Tools is the external program the workload runs.
func (w *RocksDB) Tools() []hostcheck.Program { return []hostcheck.Program{hostcheck.DBBench} }

var flagArg = regexp.MustCompile(`^--[A-Za-z0-9_]+(=.*)?$`)

func (w *RocksDB) Validate() error {
	errs := []error{
		checkName(w.Name(), "db_dir", w.DBDir),
		checkRange(w.Name(), "threads", int64(w.Threads), 1, 1024),
		checkRange(w.Name(), "key_size", int64(w.KeySize), 1, 1<<20),
		checkRange(w.Name(), "value_size", int64(w.ValueSize), 1, 1<<30),
		checkRange(w.Name(), "total_bytes", int64(w.TotalBytes), int64(w.ValueSize), 1<<50),
		checkRange(w.Name(), "readwritepercent", int64(w.ReadWritePercent), 0, 100),
	}
	if w.Mode != "put" {
		errs = append(errs, checkRange(w.Name(), "read_bytes", int64(w.ReadBytes), int64(w.ValueSize), 1<<50))
	}
	switch w.Mode {
	case "put", "get", "mixed":
	default:
		errs = append(errs, fmt.Errorf("workloads: rocksdb: mode must be put, get or mixed, got %q", w.Mode))
	}
	if w.Fill != "fillrandom" && w.Fill != "fillseq" {
		errs = append(errs, fmt.Errorf("workloads: rocksdb: fill must be fillrandom or fillseq, got %q", w.Fill))
	}
	switch w.Compression {
	case "", "none", "snappy", "zlib", "bzip2", "lz4", "lz4hc", "xpress", "zstd":
	default:
		errs = append(errs, fmt.Errorf("workloads: rocksdb: compression %q unknown", w.Compression))
	}
	if w.Duration < 0 || w.Duration%time.Second != 0 {
		errs = append(errs, fmt.Errorf("workloads: rocksdb: duration must be whole seconds >= 0, got %v", w.Duration))
	}
	for _, a := range w.ExtraArgs {
		if !flagArg.MatchString(a) {
			errs = append(errs, fmt.Errorf("workloads: rocksdb: extra_args: %q is not a --flag[=value]", a))
		}
	}
	return errors.Join(errs...)
}

// OpKinds are db_bench's histograms of the measured benchmark: "write"
// for the fills (puts), "read" for readrandom, both for the mix.
func (w *RocksDB) OpKinds() []string {
	switch w.Mode {
	case "get":
		return []string{"read"}
	case "mixed":
		return []string{"read", "write"}
	}
	return []string{"write"}
}

// benchmark is the db_bench benchmark Run measures.
func (w *RocksDB) benchmark() string {
	switch w.Mode {
	case "get":
		return "readrandom"
	case "mixed":
		return "readrandomwriterandom"
	}
	return w.Fill
}

// MakeCmd returns db_bench's arguments for benchmark (the measured one, or
// "fillseq" for the fill of get and mixed).
func (w *RocksDB) MakeCmd(env *Env, benchmark string) []string {
	num := int64(w.TotalBytes) / int64(w.ValueSize)
	args := []string{
		"--benchmarks=" + benchmark,
		"--db=" + toolPath(env, w.DBDir),
		"--threads=" + strconv.Itoa(w.Threads),
		"--key_size=" + strconv.Itoa(w.KeySize),
		"--value_size=" + strconv.FormatInt(int64(w.ValueSize), 10),
		"--num=" + strconv.FormatInt(num, 10),
		"--histogram=1",
	}
	if benchmark == "readrandom" || benchmark == "readrandomwriterandom" {
		args = append(args, "--use_existing_db=1", "--reads="+strconv.FormatInt(int64(w.ReadBytes)/int64(w.ValueSize), 10))
	}
	if benchmark == "readrandomwriterandom" {
		args = append(args, "--readwritepercent="+strconv.Itoa(w.ReadWritePercent))
	}
	if w.Compression != "" {
		args = append(args, "--compression_type="+w.Compression)
	}
	if w.Duration > 0 && benchmark == w.benchmark() {
		args = append(args, "--duration="+strconv.Itoa(int(w.Duration/time.Second)))
	}
	if env.Seed != 0 {
		args = append(args, "--seed="+strconv.FormatInt(env.Seed&math.MaxInt64, 10))
	}
	return append(args, w.ExtraArgs...)
}

// Parameters names the run for result lines.
func (w *RocksDB) Parameters() map[string]string {
	return map[string]string{
		"mode": w.Mode, "benchmark": w.benchmark(), "threads": strconv.Itoa(w.Threads),
		"key_size": strconv.Itoa(w.KeySize), "value_size": w.ValueSize.String(),
	}
}

func (w *RocksDB) Prepare(ctx context.Context, env *Env) error {
	bin, err := findTool(hostcheck.DBBench)
	if err != nil {
		return err
	}
	w.binary = bin
	if err := removeAll(ctx, env.FS, w.DBDir); err != nil {
		return fmt.Errorf("workloads: rocksdb: remove old database: %w", err)
	}
	if w.Mode == "put" {
		return nil
	}
	_, err = runTool(ctx, env, "rocksdb-fill", toolCommand(ctx, env, bin, w.MakeCmd(env, "fillseq")...))
	return err
}

func (w *RocksDB) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.binary == "" {
		return nil, fmt.Errorf("workloads: rocksdb: Run before Prepare")
	}
	start := time.Now()
	out, err := runTool(ctx, env, "rocksdb", toolCommand(ctx, env, w.binary, w.MakeCmd(env, w.benchmark())...))
	if err != nil {
		return nil, err
	}
	res, err := w.Report(out)
	if err != nil {
		return nil, err
	}
	res.Counters["wall_seconds"] = time.Since(start).Seconds()
	return res, nil
}

var (
	dbBenchLine  = regexp.MustCompile(`^(\w+)\s*:\s*([0-9.]+) micros/op ([0-9.]+) ops/sec(?:\s+([0-9.]+) seconds\s+([0-9]+) operations;)?\s*(?:([0-9.]+) MB/s)?(.*)$`)
	dbBenchHist  = regexp.MustCompile(`^Microseconds per (\w+):`)
	dbBenchPct   = regexp.MustCompile(`P([0-9.]+): ([0-9.]+)`)
	dbBenchBkt   = regexp.MustCompile(`^[\[(]\s*([0-9.]+),\s*([0-9.]+)\s*\]\s+([0-9]+)\s`)
	dbBenchKV    = regexp.MustCompile(`(\w+): ?([0-9.]+)`)
	dbBenchFound = regexp.MustCompile(`\(([0-9]+) of ([0-9]+) found\)`)
)

// Report parses db_bench output: the benchmark line gives ops, seconds,
// ops/s and MB/s (db_bench's MB = 2^20 bytes; Bytes = MB/s x 2^20 x
// seconds, or for readrandomwriterandom (writes + found reads) x (key +
// value size)). Each "Microseconds per <kind>:" table becomes
// Latency[<kind>], rebuilt from the bucket lines by spreading each bucket's
// count evenly over its range (clamped to the reported min and max), and
// its reported percentiles become counters <kind>_p50_us, _p99_us,
// _p99.9_us, ...; Latency["all"] merges the kinds.
func (w *RocksDB) Report(out []byte) (*Result, error) {
	res := &Result{Latency: map[string]*results.Histogram{}, Counters: map[string]float64{}}
	all := results.NewHistogram()
	found := false
	var kind string
	var lo, hi float64 // the current table's min and max
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := dbBenchLine.FindStringSubmatch(line); m != nil && m[1] == w.benchmark() {
			found = true
			res.Counters["micros_per_op"], _ = strconv.ParseFloat(m[2], 64)
			res.Counters["ops_per_sec"], _ = strconv.ParseFloat(m[3], 64)
			secs, _ := strconv.ParseFloat(m[4], 64)
			res.Elapsed = time.Duration(secs * float64(time.Second))
			res.Ops, _ = strconv.ParseInt(m[5], 10, 64)
			if m[6] != "" {
				mbs, _ := strconv.ParseFloat(m[6], 64)
				res.Counters["mb_per_sec"] = mbs
				res.Bytes = int64(math.Round(mbs * (1 << 20) * secs))
			}
			extra := map[string]float64{}
			for _, kv := range dbBenchKV.FindAllStringSubmatch(m[7], -1) {
				extra[kv[1]], _ = strconv.ParseFloat(kv[2], 64)
			}
			if f, ok := extra["found"]; ok {
				res.Counters["found"] = f
				if m[6] == "" {
					res.Bytes = int64(extra["writes"]+f) * (int64(w.KeySize) + int64(w.ValueSize))
				}
			}
			if n := dbBenchFound.FindStringSubmatch(m[7]); n != nil {
				res.Counters["found"], _ = strconv.ParseFloat(n[1], 64)
			}
			continue
		}
		if m := dbBenchHist.FindStringSubmatch(line); m != nil {
			kind = m[1]
			res.Latency[kind] = results.NewHistogram()
			lo, hi = 0, math.Inf(1)
			continue
		}
		if kind == "" {
			continue
		}
		switch {
		case strings.HasPrefix(line, "Count:"):
			kv := dbBenchKV.FindAllStringSubmatch(line, -1)
			for _, p := range kv {
				if p[1] == "Average" {
					res.Counters[kind+"_avg_us"], _ = strconv.ParseFloat(p[2], 64)
				}
			}
		case strings.HasPrefix(line, "Min:"):
			for _, p := range dbBenchKV.FindAllStringSubmatch(line, -1) {
				v, _ := strconv.ParseFloat(p[2], 64)
				switch p[1] {
				case "Min":
					lo = v
				case "Max":
					hi = v
					res.Counters[kind+"_max_us"] = v
				}
			}
		case strings.HasPrefix(line, "Percentiles:"):
			for _, p := range dbBenchPct.FindAllStringSubmatch(line, -1) {
				res.Counters[kind+"_p"+p[1]+"_us"], _ = strconv.ParseFloat(p[2], 64)
			}
		default:
			if m := dbBenchBkt.FindStringSubmatch(line); m != nil {
				blo, _ := strconv.ParseFloat(m[1], 64)
				bhi, _ := strconv.ParseFloat(m[2], 64)
				n, _ := strconv.ParseInt(m[3], 10, 64)
				spreadInto(res.Latency[kind], blo, bhi, n, lo, hi, time.Microsecond)
			} else if line == "" {
				all.Merge(res.Latency[kind])
				kind = ""
			}
		}
	}
	if kind != "" {
		all.Merge(res.Latency[kind])
	}
	if !found {
		return nil, fmt.Errorf("workloads: rocksdb: no result line for %s in db_bench output (%d bytes): %s", w.benchmark(), len(out), tail(out, 400))
	}
	res.Latency["all"] = all
	return res, nil
}

// spreadInto records n observations spread evenly over the bucket (blo,
// bhi], clamped to [lo, hi], in units of unit.
func spreadInto(h *results.Histogram, blo, bhi float64, n int64, lo, hi float64, unit time.Duration) {
	for j := range n {
		v := blo + (bhi-blo)*(float64(j)+0.5)/float64(n)
		v = math.Max(lo, math.Min(v, hi))
		h.Record(time.Duration(v * float64(unit)))
	}
}
