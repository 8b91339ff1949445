package workloads

import (
	"maps"
	"slices"
	"testing"
)

// TestRocksDBOpKinds: the op kinds db_bench's reports hold are the ones
// the workload declares for its mode.
func TestRocksDBOpKinds(t *testing.T) {
	for mode, file := range map[string]string{"put": "db_bench_fillrandom.txt", "get": "db_bench_readrandom.txt", "mixed": "db_bench_readrandomwriterandom.txt"} {
		w := mustNew[*RocksDB](t, "rocksdb")
		w.Mode, w.KeySize, w.ValueSize = mode, 9, 128<<10
		res, err := w.Report(readTestdata(t, file))
		if err != nil {
			t.Fatal(err)
		}
		got := slices.DeleteFunc(slices.Sorted(maps.Keys(res.Latency)), func(k string) bool { return k == "all" })
		if !slices.Equal(got, w.OpKinds()) {
			t.Errorf("%s: report has latency of %v, OpKinds says %v", mode, got, w.OpKinds())
		}
	}
}
