package workloads

import (
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs/local"
	"polytropon/internal/units"
)

// newTestEnv gives a workload a real directory served by fs/local.
func newTestEnv(t *testing.T) *Env {
	t.Helper()
	dir := t.TempDir()
	svc, err := local.New(dir)
	if err != nil {
		t.Fatalf("local.New(%s): %v", dir, err)
	}
	t.Cleanup(func() { svc.Close() })
	return &Env{Dir: dir, FS: svc, Seed: 42, OutDir: t.TempDir()}
}

func mustNew[T Workload](t *testing.T, name string) T {
	t.Helper()
	w, err := New(name)
	if err != nil {
		t.Fatal(err)
	}
	return w.(T)
}

func prepareAndRun(t *testing.T, w Workload, env *Env) *Result {
	t.Helper()
	if err := w.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Prepare(ctx, env); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	res, err := w.Run(ctx, env)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Ops <= 0 {
		t.Fatalf("ops = %d, want > 0", res.Ops)
	}
	if got := res.Latency["all"].Count(); got != res.Ops {
		t.Errorf("Latency[all].Count() = %d, want ops = %d", got, res.Ops)
	}
	if got, want := res.Bytes, int64(res.Counters["read_bytes"]+res.Counters["written_bytes"]); got != want {
		t.Errorf("bytes = %d, want read+written = %d", got, want)
	}
	return res
}

func count(res *Result, kind string) int64 {
	if h := res.Latency[kind]; h != nil {
		return h.Count()
	}
	return 0
}

// walkFiles lists the regular files and directories below root (host view).
func walkFiles(t *testing.T, root string) (files map[string]int64, dirs []string) {
	t.Helper()
	files = map[string]int64{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			dirs = append(dirs, rel)
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		files[rel] = info.Size()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files, dirs
}

func TestFileserver(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Fileserver](t, "fileserver")
	w.NFiles, w.MeanDirWidth, w.FileSize, w.NThreads = 60, 5, 8<<10, 4
	w.IOSize, w.MeanAppendSize, w.Duration = 4<<10, 1<<10, 300*time.Millisecond
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(env.Dir, "fileserver", "bigfileset")
	files, dirs := walkFiles(t, root)
	prealloc := w.set.existing()
	if len(files) != prealloc || prealloc == 0 || prealloc >= w.NFiles {
		t.Fatalf("after Prepare: %d files on disk, %d entries marked existing, want equal and in (0, %d)", len(files), prealloc, w.NFiles)
	}
	// Filebench's layout: %08d names; files only in leaf directories.
	serial := regexp.MustCompile(`^[0-9]{8}$`)
	hasFiles := map[string]bool{}
	for f := range files {
		for _, el := range strings.Split(f, "/") {
			if !serial.MatchString(el) {
				t.Errorf("path %s: element %q is not an 8-digit serial", f, el)
			}
		}
		if strings.Count(f, "/") < 1 {
			t.Errorf("file %s directly in the fileset root, want it in a subdirectory", f)
		}
		hasFiles[filepath.Dir(f)] = true
	}
	for _, d := range dirs {
		if !hasFiles[d] {
			continue
		}
		ents, _ := os.ReadDir(filepath.Join(root, d))
		for _, e := range ents {
			if e.IsDir() {
				t.Errorf("leaf directory %s also holds directory %s", d, e.Name())
			}
		}
	}

	res, err := w.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	if res.Ops <= 0 || res.Latency["all"].Count() != res.Ops {
		t.Fatalf("ops = %d, all = %d, want equal and > 0", res.Ops, res.Latency["all"].Count())
	}
	for _, k := range []string{"createfile", "writewholefile", "closefile", "openfile", "appendfilerand", "readwholefile", "deletefile", "statfile"} {
		if count(res, k) == 0 {
			t.Errorf("no %s recorded", k)
		}
	}
	if c, o, cl := count(res, "createfile"), count(res, "openfile"), count(res, "closefile"); cl != c+o {
		t.Errorf("closefile = %d, want createfile + openfile = %d", cl, c+o)
	}
	if count(res, "writewholefile") != count(res, "createfile") {
		t.Errorf("writewholefile = %d, want createfile = %d", count(res, "writewholefile"), count(res, "createfile"))
	}
	files, _ = walkFiles(t, root)
	want := int64(prealloc) + count(res, "createfile") - count(res, "deletefile")
	if int64(len(files)) != want || res.Counters["files_existing"] != float64(want) {
		t.Errorf("files on disk = %d, counter = %v, want prealloc %d + created %d - deleted %d = %d",
			len(files), res.Counters["files_existing"], prealloc, count(res, "createfile"), count(res, "deletefile"), want)
	}
	if res.Counters["read_bytes"] <= 0 || res.Counters["written_bytes"] < float64(count(res, "appendfilerand")) {
		t.Errorf("read %v written %v bytes, want read > 0 and written >= one byte per append", res.Counters["read_bytes"], res.Counters["written_bytes"])
	}
	if res.Bytes != int64(res.Counters["read_bytes"]+res.Counters["written_bytes"]) {
		t.Errorf("bytes = %d, want read + written", res.Bytes)
	}
}

func TestWebserver(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Webserver](t, "webserver")
	w.NFiles, w.MeanDirWidth, w.NThreads, w.FileSize, w.Duration = 30, 5, 3, 4<<10, 300*time.Millisecond
	w.Pick = "random"
	if err := w.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(env.Dir, filepath.FromSlash(w.logs.entries[0].path))
	before, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	res, err := w.Run(context.Background(), env)
	if err != nil {
		t.Fatal(err)
	}
	o, r, c, a := count(res, "openfile"), count(res, "readwholefile"), count(res, "closefile"), count(res, "appendfilerand")
	if o == 0 || o != r || o != c {
		t.Errorf("openfile %d readwholefile %d closefile %d, want equal and > 0", o, r, c)
	}
	// Every loop that appended first did all its reads; the last loop of
	// each thread may have been cut short by the deadline.
	if r := int64(w.Reads); a == 0 || o < a*r || o > (a+int64(w.NThreads))*r {
		t.Errorf("appendfilerand = %d with %d opens, want opens in [%d, %d]", a, o, a*r, (a+int64(w.NThreads))*r)
	}
	after, err := os.Stat(logFile)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := after.Size()-before.Size(), int64(res.Counters["written_bytes"]); got != want {
		t.Errorf("log grew by %d bytes, want written_bytes = %d", got, want)
	}
	files, _ := walkFiles(t, filepath.Join(env.Dir, "webserver", "bigfileset"))
	if len(files) != w.NFiles {
		t.Errorf("bigfileset has %d files, want %d (read-only, fully preallocated)", len(files), w.NFiles)
	}
	if res.Counters["read_bytes"] <= 0 {
		t.Errorf("read_bytes = %v, want > 0", res.Counters["read_bytes"])
	}
}

func TestSeqwrite(t *testing.T) {
	t.Run("file_per_thread", func(t *testing.T) {
		env := newTestEnv(t)
		w := mustNew[*Seqwrite](t, "seqwrite")
		w.NThreads, w.FilePerThread, w.IOSize, w.Duration = 2, true, 64<<10, 200*time.Millisecond
		res := prepareAndRun(t, w, env)
		files, _ := walkFiles(t, filepath.Join(env.Dir, "seqwrite"))
		var total int64
		for _, s := range files {
			total += s
		}
		if len(files) != 2 || total != int64(res.Counters["written_bytes"]) {
			t.Errorf("%d files with %d bytes, want 2 files with written_bytes = %v", len(files), total, res.Counters["written_bytes"])
		}
		if res.Bytes != res.Ops*int64(w.IOSize) || count(res, "write") != res.Ops {
			t.Errorf("bytes = %d, ops = %d, want bytes = ops * %d", res.Bytes, res.Ops, w.IOSize)
		}
	})
	t.Run("shared_wrapped", func(t *testing.T) {
		env := newTestEnv(t)
		w := mustNew[*Seqwrite](t, "seqwrite")
		w.NThreads, w.IOSize, w.WrapSize, w.Duration = 2, 64<<10, 256<<10, 200*time.Millisecond
		res := prepareAndRun(t, w, env)
		files, _ := walkFiles(t, filepath.Join(env.Dir, "seqwrite"))
		size, ok := files["largefile1"]
		if len(files) != 1 || !ok || size > int64(w.WrapSize) || size == 0 {
			t.Errorf("files %v, want only largefile1 with 0 < size <= %d", files, w.WrapSize)
		}
		if res.Counters["written_bytes"] <= float64(w.WrapSize) {
			t.Logf("wrote only %v bytes; wrap not exercised", res.Counters["written_bytes"])
		}
	})
}

func TestSeqread(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Seqread](t, "seqread")
	w.FileSize, w.IOSize, w.NThreads, w.Duration = 1<<20+100, 64<<10, 2, 200*time.Millisecond
	res := prepareAndRun(t, w, env)
	if res.Counters["read_bytes"] <= 0 || res.Bytes > res.Ops*int64(w.IOSize) {
		t.Errorf("read %d bytes in %d ops, want > 0 and <= ops * %d", res.Bytes, res.Ops, w.IOSize)
	}
	passes := res.Counters["rewinds"]
	if full := float64(res.Bytes) / float64(w.FileSize); full >= 2*float64(w.NThreads) && passes == 0 {
		t.Errorf("read the file %.1f times over but never rewound", full)
	}
	// A second Prepare reuses the file instead of rewriting it.
	p := filepath.Join(env.Dir, "seqread", "largefile1")
	old := time.Unix(1, 0)
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if info, _ := os.Stat(p); !info.ModTime().Equal(old) || info.Size() != int64(w.FileSize) {
		t.Errorf("second Prepare rewrote the file (mtime %v size %d)", info.ModTime(), info.Size())
	}
}

func TestFileappend(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Fileappend](t, "fileappend")
	w.FileSize, w.AppendSize, w.IOSize, w.Appends = 3<<20, 1<<20, 256<<10, 3
	res := prepareAndRun(t, w, env)
	info, err := os.Stat(filepath.Join(env.Dir, "bigfile"))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(w.FileSize) + int64(w.Appends)*int64(w.AppendSize); info.Size() != want {
		t.Errorf("file size %d, want %d", info.Size(), want)
	}
	if res.Ops != 3 || res.Bytes != 3<<20 {
		t.Errorf("ops %d bytes %d, want 3 and %d", res.Ops, res.Bytes, 3<<20)
	}
	for _, k := range []string{"open", "write", "close", "append"} {
		if count(res, k) != 3 {
			t.Errorf("%s count %d, want 3", k, count(res, k))
		}
	}

	t.Run("no_create", func(t *testing.T) {
		w := mustNew[*Fileappend](t, "fileappend")
		w.File, w.Create = "missing/file", false
		err := w.Prepare(context.Background(), env)
		if err == nil || !strings.Contains(err.Error(), "create = false") {
			t.Errorf("Prepare with a missing file and create = false: got %v, want an error naming create", err)
		}
	})
}

func TestFileread(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Fileread](t, "fileread")
	w.FileSize, w.IOSize, w.Passes = 5<<19, 1<<20, 2 // 2.5 MiB: 3 blocks per pass
	res := prepareAndRun(t, w, env)
	if res.Ops != 6 || res.Bytes != 2*int64(w.FileSize) {
		t.Errorf("ops %d bytes %d, want 6 and %d", res.Ops, res.Bytes, 2*int64(w.FileSize))
	}
	if count(res, "pass") != 2 || res.Counters["blocks_per_pass"] != 3 {
		t.Errorf("pass count %d blocks_per_pass %v, want 2 and 3", count(res, "pass"), res.Counters["blocks_per_pass"])
	}
}

// TestNativeCancel: cancelling ctx ends a long run promptly, without error.
func TestNativeCancel(t *testing.T) {
	env := newTestEnv(t)
	w := mustNew[*Fileserver](t, "fileserver")
	w.NFiles, w.FileSize, w.NThreads, w.IOSize, w.Duration = 40, 4<<10, 3, 4<<10, time.Hour
	if err := w.Prepare(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	var res *Result
	var err error
	go func() { res, err = w.Run(ctx, env); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return 30 s after its context ended")
	}
	if err != nil || res.Ops == 0 {
		t.Fatalf("Run after cancel: res %+v err %v, want ops > 0 and no error", res, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		workload string
		field    string
		mutate   func(Workload)
	}{
		{"fileserver", "nfiles", func(w Workload) { w.(*Fileserver).NFiles = 0 }},
		{"fileserver", "prealloc", func(w Workload) { w.(*Fileserver).Prealloc = 101 }},
		{"fileserver", "pick", func(w Workload) { w.(*Fileserver).Pick = "lru" }},
		{"fileserver", "dir", func(w Workload) { w.(*Fileserver).Dir = "../escape" }},
		{"fileserver", "duration", func(w Workload) { w.(*Fileserver).Duration = 0 }},
		{"fileserver", "size_gamma", func(w Workload) { w.(*Fileserver).SizeGamma = -1 }},
		{"webserver", "nthreads", func(w Workload) { w.(*Webserver).NThreads = 0 }},
		{"webserver", "meanappendsize", func(w Workload) { w.(*Webserver).MeanAppendSize = 0 }},
		{"seqwrite", "iosize", func(w Workload) { w.(*Seqwrite).IOSize = 0 }},
		{"seqread", "filesize", func(w Workload) { w.(*Seqread).FileSize = 0 }},
		{"fileappend", "appends", func(w Workload) { w.(*Fileappend).Appends = 0 }},
		{"fileappend", "file", func(w Workload) { w.(*Fileappend).File = "/abs" }},
		{"fileread", "passes", func(w Workload) { w.(*Fileread).Passes = -1 }},
		{"rocksdb", "mode", func(w Workload) { w.(*RocksDB).Mode = "scan" }},
		{"rocksdb", "value_size", func(w Workload) { w.(*RocksDB).ValueSize = 0 }},
		{"rocksdb", "readwritepercent", func(w Workload) { w.(*RocksDB).ReadWritePercent = 101 }},
		{"randomio", "workers", func(w Workload) { w.(*RandomIO).Workers = 0 }},
		{"randomio", "hdd_opts", func(w Workload) { w.(*RandomIO).HDDOpts = "rd-rnd;rm -rf" }},
		{"sysbench-cpu", "cpu_max_prime", func(w Workload) { w.(*SysbenchCPU).MaxPrime = 1 }},
		{"sysbench-cpu", "percentile", func(w Workload) { w.(*SysbenchCPU).Percentile = 100 }},
		{"sysbench-fileio", "file_test_mode", func(w Workload) { w.(*SysbenchFileio).Mode = "rnd" }},
		{"sysbench-fileio", "file_num", func(w Workload) { w.(*SysbenchFileio).Files = 0 }},
		{"lighttpd", "clones", func(w Workload) { w.(*Lighttpd).Clones = 0 }},
		{"lighttpd", "timeout", func(w Workload) { w.(*Lighttpd).Timeout = 0 }},
	}
	for _, tc := range tests {
		t.Run(tc.workload+"/"+tc.field, func(t *testing.T) {
			w, err := New(tc.workload)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Validate(); err != nil {
				t.Fatalf("defaults rejected: %v", err)
			}
			tc.mutate(w)
			err = w.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("Validate() = %v, want an error naming %q", err, tc.field)
			}
		})
	}
}

// TestDecodeTOML: configs decode from TOML with Filebench-style sizes and
// Go durations into the fields of the registered workload.
func TestDecodeTOML(t *testing.T) {
	w := mustNew[*Fileserver](t, "fileserver")
	doc := "nfiles = 1000\nfilesize = \"5m\"\nmeanappendsize = 16384\nduration = \"120s\"\n"
	md, err := toml.Decode(doc, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Undecoded()) != 0 {
		t.Fatalf("undecoded keys %v", md.Undecoded())
	}
	if w.NFiles != 1000 || w.FileSize != 5<<20 || w.MeanAppendSize != 16<<10 || w.Duration != 120*time.Second {
		t.Errorf("decoded %+v", w)
	}
	if w.NThreads != 50 || w.MeanDirWidth != 20 {
		t.Errorf("defaults lost: nthreads %d meandirwidth %d", w.NThreads, w.MeanDirWidth)
	}
	if err := w.Validate(); err != nil {
		t.Error(err)
	}
}

// TestSizeParams: a size param is a units.Size, so it follows the one size
// rule of every table (internal/units): one-letter and IEC suffixes are
// powers of 1024, SI ones powers of 1000 ("2GB" was 2 GiB here before the
// rule was one), and what it writes back reads back the same.
func TestSizeParams(t *testing.T) {
	for in, want := range map[string]units.Size{"0": 0, "512": 512, "16k": 16 << 10, "1m": 1 << 20, "1MiB": 1 << 20, "5g": 5 << 30, "2GB": 2e9, "1.5m": 3 << 19} {
		w := mustNew[*Fileread](t, "fileread")
		if _, err := toml.Decode("filesize = \""+in+"\"\n", w); err != nil || w.FileSize != want {
			t.Errorf("filesize = %q: got %d, %v, want %d", in, w.FileSize, err, want)
		}
		if got, _ := units.ParseSize(want.String()); got != want {
			t.Errorf("round trip of %d via %q = %d", want, want.String(), got)
		}
	}
	for _, in := range []string{"", "k", "-1", "1x", "1.1"} {
		w := mustNew[*Fileread](t, "fileread")
		if _, err := toml.Decode("filesize = \""+in+"\"\n", w); err == nil {
			t.Errorf("filesize = %q accepted: %d", in, w.FileSize)
		}
	}
}

func TestGammaVariateMean(t *testing.T) {
	rng := newTestRNG()
	for _, shape := range []float64{0.5, 1.5, 4} {
		const n = 20000
		var sum float64
		for range n {
			v := gammaVariate(rng, 1000, shape)
			if v < 0 {
				t.Fatalf("negative variate %v", v)
			}
			sum += v
		}
		if mean := sum / n; mean < 950 || mean > 1050 {
			t.Errorf("shape %v: sample mean %.1f, want about 1000", shape, mean)
		}
	}
}

func newTestRNG() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }
