package workloads

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"polytropon/fs/cache"
	"polytropon/fs/local"
)

// TestSeqreadSpreadMisses: Filebench's seqread threads all start at
// offset 0 and read the file as a convoy, so through a cache most of
// their reads hit pages another thread has just read, however large the
// file; with spread each thread is its own stream, and a file four times
// the cache misses on (almost) every read, as the Justitia re-read
// experiments need (docs/cache.md).
func TestSeqreadSpreadMisses(t *testing.T) {
	// Blocks of 1 MiB are one fill of the cache (no read-ahead beyond
	// them, whose pages would be hits of the stream itself).
	const pageSize, capacity = 64 << 10, 16 << 20
	hitRatio := func(spread bool) float64 {
		dir := t.TempDir()
		// O_DIRECT, as in the experiments: a fill takes long enough for
		// the convoy's followers to keep up with its leader.
		be, err := local.New(dir, local.WithODirect())
		if err != nil {
			t.Fatal(err)
		}
		defer be.Close()
		pool, err := cache.NewShared(capacity, "lru", cache.WithPageSize(pageSize))
		if err != nil {
			t.Fatal(err)
		}
		svc, err := pool.Tenant("reader", 100, be, cache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer svc.Close()
		w := mustNew[*Seqread](t, "seqread")
		w.FileSize, w.IOSize, w.NThreads, w.Spread = 4*capacity, 1<<20, 4, spread
		w.Duration = 300 * time.Millisecond
		// Prepare writes through the backend, so the cache starts cold.
		if err := w.Prepare(context.Background(), &Env{Dir: dir, FS: be, Seed: 1}); err != nil {
			t.Fatal(err)
		}
		res, err := w.Run(context.Background(), &Env{Dir: dir, FS: svc, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		st := pool.Stats()[0]
		if res.Bytes <= 0 || st.Hits+st.Misses == 0 {
			t.Fatalf("spread=%v: read %d bytes, %d hits, %d misses", spread, res.Bytes, st.Hits, st.Misses)
		}
		t.Logf("spread=%v: %d bytes, %d hits, %d misses", spread, res.Bytes, st.Hits, st.Misses)
		return float64(st.Hits) / float64(st.Hits+st.Misses)
	}
	if h := hitRatio(false); h < 0.5 {
		t.Errorf("threads from offset 0: hit ratio %.2f, want >= 0.5 (a convoy: 3 of 4 reads find the page cached)", h)
	}
	if h := hitRatio(true); h > 0.25 {
		t.Errorf("spread threads over a file 4x the cache: hit ratio %.2f, want <= 0.25 (re-reads miss)", h)
	}
}

// TestSeqreadSpreadStarts: spread threads start at i/n of the file in
// whole blocks, and the next Run of the workload goes on where each thread
// stopped; a file with fewer blocks than threads is refused by Validate.
func TestSeqreadSpreadStarts(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Seqread](t, "seqread")
	w.FileSize, w.IOSize, w.NThreads, w.Spread = 10<<20+5, 1<<20, 3, true
	w.Duration = 100 * time.Millisecond
	var got []int64
	for tid := range w.NThreads {
		got = append(got, w.start(tid))
	}
	if want := []int64{0, 3 << 20, 6 << 20}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("starts %v, want %v", got, want)
	}
	prepareAndRun(t, w, env)
	if len(w.resume) != w.NThreads {
		t.Fatalf("after a Run: resume offsets %v, want one per thread", w.resume)
	}
	for tid, off := range w.resume {
		if s := w.start(tid); s != off || off < 0 || off > int64(w.FileSize) {
			t.Errorf("thread %d: next start %d, stopped at %d (file of %d bytes)", tid, s, off, int64(w.FileSize))
		}
	}
	w.FileSize = 2 << 20
	if err := w.Validate(); err == nil || !strings.Contains(err.Error(), "spread") {
		t.Errorf("spread over 2 blocks for 3 threads: Validate %v, want an error naming spread", err)
	}
	w.Spread = false
	if err := w.Validate(); err != nil {
		t.Errorf("the same without spread: Validate %v", err)
	}
}
