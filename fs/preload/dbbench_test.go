package preload_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
)

// dbBenchArgs are the db_bench flags shared by the runs of TestDbBench: a
// small write buffer so that the run flushes several SST files.
func dbBenchArgs(db string, num int) []string {
	return []string{"--db=" + db, fmt.Sprintf("--num=%d", num), "--value_size=100", "--write_buffer_size=131072",
		"--target_file_size_base=262144", "--seed=42", "--threads=1", "--histogram=0", "--stats_interval=0"}
}

var readseqRe = regexp.MustCompile(`readseq\s*:.*?(\d+) operations`)

// readseqCount runs readseq on an existing database and returns the key
// count it reports.
func readseqCount(t *testing.T, p *pool, dir, db string, num int) string {
	t.Helper()
	out := run(t, p, dir, 120*time.Second, "db_bench", append(dbBenchArgs(db, num), "--use_existing_db=1", "--benchmarks=readseq")...)
	m := readseqRe.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no readseq result in db_bench output:\n%s", out)
	}
	return m[1]
}

// TestDbBench: RocksDB's db_bench fills, reads, overwrites and compacts a
// database through the library and through FUSE; readseq over it then
// counts as many keys as over a native database built with the same seed,
// and SST files exist in the writable branch.
func TestDbBench(t *testing.T) {
	testenv.RequireTool(t, "db_bench", "rocksdb-tools")
	const num = 10000
	bench := "--benchmarks=fillrandom,readrandom,overwrite,compact"
	native := t.TempDir()
	run(t, nil, native, 120*time.Second, "db_bench", append(dbBenchArgs(filepath.Join(native, "db"), num), bench)...)
	want := readseqCount(t, nil, native, filepath.Join(native, "db"), num)

	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		db := filepath.Join(p.Root, "db")
		out := run(t, p, p.Root, 300*time.Second, "db_bench", append(dbBenchArgs(db, num), bench)...)
		for _, b := range []string{"fillrandom", "readrandom", "overwrite", "compact"} {
			if !strings.Contains(out, b) {
				t.Errorf("db_bench output has no %s result:\n%s", b, out)
			}
		}
		got := readseqCount(t, p, p.Root, db, num)
		if got != want {
			t.Errorf("readseq counted %s keys through %s, %s natively", got, via, want)
		}
		ssts, _ := filepath.Glob(filepath.Join(p.Upper, "db", "*.sst"))
		if len(ssts) == 0 {
			ents, _ := os.ReadDir(filepath.Join(p.Upper, "db"))
			t.Errorf("no SST file in the writable branch (%d entries)", len(ents))
		}
		t.Logf("readseq: %s keys; %d SST files", got, len(ssts))
	})
}
