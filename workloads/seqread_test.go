package workloads

import (
	"context"
	"fmt"
	"testing"
	"time"

	"polytropon/fs/cache"
	"polytropon/fs/local"
)

// TestSeqreadSharedOffsetMisses: Filebench's seqread threads all start
// at offset 0 and read the file as a convoy, so through a cache most of
// their reads hit pages another thread has just read, however large the
// file; with shared_offset they read it as one stream, each block once
// per pass, and a file four times the cache misses on every read, as the Justitia re-read
// experiments need (docs/cache.md).
func TestSeqreadSharedOffsetMisses(t *testing.T) {
	// Blocks of 1 MiB are one fill of the cache (no read-ahead beyond
	// them, whose pages would be hits of the stream itself).
	const pageSize, capacity = 64 << 10, 16 << 20
	hitRatio := func(shared bool) float64 {
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
		w.FileSize, w.IOSize, w.NThreads, w.SharedOffset = 4*capacity, 1<<20, 4, shared
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
			t.Fatalf("shared_offset=%v: read %d bytes, %d hits, %d misses", shared, res.Bytes, st.Hits, st.Misses)
		}
		t.Logf("shared_offset=%v: %d bytes, %d hits, %d misses", shared, res.Bytes, st.Hits, st.Misses)
		return float64(st.Hits) / float64(st.Hits+st.Misses)
	}
	if h := hitRatio(false); h < 0.5 {
		t.Errorf("threads from offset 0: hit ratio %.2f, want >= 0.5 (a convoy: 3 of 4 reads find the page cached)", h)
	}
	if h := hitRatio(true); h > 0.05 {
		t.Errorf("threads sharing one offset over a file 4x the cache: hit ratio %.2f, want <= 0.05 (re-reads miss)", h)
	}
}

// TestSeqreadSharedOffset: with shared_offset the threads take
// successive blocks of one offset, rewinding at the end of the file, and
// the offset lives on into the next Run.
func TestSeqreadSharedOffset(t *testing.T) {
	var c sharedCursor
	var got []string
	for range 5 {
		off, rewound := c.next(4, 10)
		got = append(got, fmt.Sprint(off, rewound))
	}
	if want := []string{"0 false", "4 false", "8 false", "0 true", "4 false"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("offsets over a 10-byte file in blocks of 4: %v, want %v", got, want)
	}
	env := newTestEnv(t)
	w := mustNew[*Seqread](t, "seqread")
	w.FileSize, w.IOSize, w.NThreads, w.SharedOffset = 1<<20, 64<<10, 3, true
	w.Duration = 100 * time.Millisecond
	res := prepareAndRun(t, w, env)
	blocks := res.Ops % 16
	if off, _ := w.cursor.next(0, int64(w.FileSize)); off != blocks*64<<10 {
		t.Errorf("after %d reads of 16-block passes the next offset is %d, want %d", res.Ops, off, blocks*64<<10)
	}
}
