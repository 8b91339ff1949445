package cachebench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/stack"
	"polytropon/internal/units"
	"polytropon/systems"
)

// The client cache of clones (docs/cache.md): N clones of one image read
// the whole image through the stacks D's filesystem service builds. With
// the cache in the backend client (below the unions, placement "client",
// D's default) the image is cached once whatever N; with a private cache
// above each clone's union (placement "above-union", D's stack before)
// it is cached N times. Each count runs in a fresh stack builder in this
// process; the resident memory it adds and the cache pages it holds are
// reported per placement and clone count.

// ClonesConfig configures a clones run.
type ClonesConfig struct {
	Counts    []int  // clone counts (1, 4, 16)
	ImageSize int64  // bytes of the image's one file
	WorkDir   string // the image and the clones' branches ("": a temporary directory, removed)
}

// ClonesRow is one placement and clone count.
type ClonesRow struct {
	Placement  string // "client" or "above-union"
	Clones     int
	CachePages int   // pages held by every cache of the count
	CacheBytes int64 // CachePages × page size
	RSSBytes   int64 // resident memory the count added (VmRSS after - before)
	MBps       float64
}

// cloneImage is the name of the image's file.
const cloneImage = "image.bin"

// Clones runs every placement and count of cfg.
func Clones(ctx context.Context, cfg ClonesConfig, progress io.Writer) ([]ClonesRow, error) {
	if len(cfg.Counts) == 0 || cfg.ImageSize <= 0 {
		return nil, fmt.Errorf("%w: clones: want clone counts and an image size > 0", ErrConfig)
	}
	for _, n := range cfg.Counts {
		if n < 1 || n > 256 {
			return nil, fmt.Errorf("%w: clones: count %d: want 1..256", ErrConfig, n)
		}
	}
	dir := cfg.WorkDir
	if dir == "" {
		d, err := os.MkdirTemp("", "cachebench-clones-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	image := filepath.Join(dir, "image")
	if err := writeImage(image, cfg.ImageSize); err != nil {
		return nil, err
	}
	var rows []ClonesRow
	for _, placement := range []string{"client", "above-union"} {
		for _, n := range cfg.Counts {
			fmt.Fprintf(progress, "clones: %s cache, %d clones\n", placement, n)
			row, err := runClones(ctx, cfg.ImageSize, image, filepath.Join(dir, fmt.Sprintf("%s-%d", placement, n)), placement, n)
			if err != nil {
				return rows, fmt.Errorf("clones: %s cache, %d clones: %w", placement, n, err)
			}
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// writeImage writes the image's file of size bytes under dir.
func writeImage(dir string, size int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, cloneImage))
	if err != nil {
		return err
	}
	block := make([]byte, 1<<20)
	for i := range block {
		block[i] = byte(i * 31)
	}
	for off := int64(0); off < size; off += int64(len(block)) {
		if _, err := f.Write(block[:min(int64(len(block)), size-off)]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// runClones builds n clones of placement over image and reads the image
// through every one at once.
func runClones(ctx context.Context, size int64, image, dir, placement string, n int) (ClonesRow, error) {
	row := ClonesRow{Placement: placement, Clones: n}
	perTenant := units.Size(size + 64<<20) // the image and its read-ahead fit
	var b stack.Builder
	var stacks []*stack.Stack
	defer func() {
		for _, st := range stacks {
			st.Close()
		}
	}()
	debug.FreeOSMemory()
	before, err := residentBytes()
	if err != nil {
		return row, err
	}
	for i := range n {
		upper := filepath.Join(dir, fmt.Sprintf("c%d", i))
		if err := os.MkdirAll(upper, 0o755); err != nil {
			return row, err
		}
		layers := systems.CloneStack(stack.CacheOptions{Capacity: perTenant}, i, n, upper, image)
		if placement == "above-union" {
			layers = []stack.Layer{{Type: stack.Cache, Cache: &stack.CacheOptions{Capacity: perTenant}},
				{Type: stack.Union, Branches: []stack.Layer{{Type: stack.Local, Dir: upper, ODirect: true},
					{Type: stack.Local, Dir: image, ReadOnly: true, ODirect: true, Shared: "image"}}}}
		}
		st, err := b.Build(layers)
		if err != nil {
			return row, err
		}
		stacks = append(stacks, st)
	}
	start := time.Now()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, st := range stacks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readAll(ctx, st.Service, size)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return row, err
	}
	row.MBps = float64(size) * float64(n) / 1e6 / time.Since(start).Seconds()
	runtime.GC()
	after, err := residentBytes()
	if err != nil {
		return row, err
	}
	row.RSSBytes = after - before
	row.CachePages, row.CacheBytes = cachePages(&b, stacks)
	return row, nil
}

// readAll reads the image's file through svc in 1 MiB blocks.
func readAll(ctx context.Context, svc fs.Service, size int64) error {
	f, err := svc.Open(ctx, cloneImage, syscall.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	var off int64
	for off < size {
		n, err := f.Pread(buf, off)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
		off += int64(n)
	}
	if off != size {
		return fmt.Errorf("read %d bytes of the image, want %d", off, size)
	}
	return nil
}

// cachePages counts the pages of every cache the stacks hold: the client
// cache pool's, or each private cache's.
func cachePages(b *stack.Builder, stacks []*stack.Stack) (pages int, bytes int64) {
	if pool := b.CachePool("client"); pool != nil {
		for _, st := range pool.Stats() {
			pages += st.Pages
		}
		return pages, int64(pages) * int64(pool.PageSize())
	}
	for _, st := range stacks {
		if c, ok := st.Service.(interface{ Pool() *cache.Shared }); ok {
			pool := c.Pool()
			for _, ts := range pool.Stats() {
				pages += ts.Pages
				bytes += int64(ts.Pages) * int64(pool.PageSize())
			}
		}
	}
	return pages, bytes
}

// residentBytes is this process's resident memory (VmRSS).
func residentBytes() (int64, error) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/self/status")
}

// WriteClones prints the rows as a table.
func WriteClones(w io.Writer, rows []ClonesRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "placement\tclones\tcache pages\tcache MiB\tRSS added MiB\tMB/s\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t\n", r.Placement, r.Clones, r.CachePages,
			float64(r.CacheBytes)/(1<<20), float64(r.RSSBytes)/(1<<20), r.MBps)
	}
	return tw.Flush()
}
