package workloads

// A Go rendering of Filebench's fileset: a tree of directories of
// gamma-distributed width and depth holding a fixed number of file entries,
// each with a size drawn once; some entries exist on disk, the others are
// free to be created. Flowops pick entries by state (existing or not) and
// never two threads the same entry for a create or delete.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	pfs "polytropon/fs"
)

type filesetEntry struct {
	path   string
	size   int64
	exists bool // guarded by fileset.mu
	busy   bool // being created or deleted; guarded by fileset.mu
	refs   int  // open handles and stats in flight; guarded by fileset.mu
}

type fileset struct {
	root    string   // fileset directory, relative to the service root
	dirs    []string // every directory, parents before children
	random  bool     // pick uniformly at random instead of Filebench's rotors
	entries []filesetEntry

	mu      sync.Mutex
	nerotor int // next non-existing entry to try; guarded by mu
	exrotor int // next existing entry to try; guarded by mu
}

type filesetSpec struct {
	root      string
	entries   int
	dirWidth  float64
	dirGamma  float64 // 0: fixed width and depth
	meanSize  float64
	sizeGamma float64 // 0: every file meanSize
	random    bool
}

// newFileset lays out the tree the way Filebench's fileset_populate does:
// mean depth = ln(entries)/ln(dirwidth); each directory draws its width and
// the depth at which it becomes a leaf from gamma distributions with those
// means; the root keeps adding subdirectories until every entry is placed.
// Names are %08d serials within their directory. Nothing touches the disk.
func newFileset(spec filesetSpec, rng *rand.Rand) *fileset {
	s := &fileset{root: pfs.Clean(spec.root), random: spec.random}
	meanDepth := 1.0
	if spec.dirWidth > 1 {
		meanDepth = math.Max(1, math.Log(float64(spec.entries))/math.Log(spec.dirWidth))
	}
	draw := func(mean float64) float64 {
		if spec.dirGamma > 0 {
			return gammaVariate(rng, mean, spec.dirGamma)
		}
		return mean
	}
	s.dirs = append(s.dirs, s.root)
	var populate func(dir string, isRoot bool, depth int)
	populate = func(dir string, isRoot bool, depth int) {
		randDepth := int(draw(meanDepth))
		width := draw(spec.dirWidth)
		randDepth = max(randDepth, 1)
		if width < 1 {
			width = 1
		}
		leaf := depth >= randDepth && !isRoot
		for i := 1; (isRoot || float64(i) < width+1) && len(s.entries) < spec.entries; i++ {
			name := fmt.Sprintf("%s/%08d", dir, i)
			if leaf {
				size := int64(draw2(rng, spec.meanSize, spec.sizeGamma))
				s.entries = append(s.entries, filesetEntry{path: name, size: size})
				continue
			}
			s.dirs = append(s.dirs, name)
			populate(name, false, depth+1)
		}
	}
	populate(s.root, true, 1)
	return s
}

func draw2(rng *rand.Rand, mean, shape float64) float64 {
	return math.Max(0, gammaVariate(rng, mean, shape))
}

// create makes the directories and, with probability prealloc/100 per entry
// (Filebench's prealloc=N), the entry's file at its full size. Any previous
// tree at the root is removed first.
func (s *fileset) create(ctx context.Context, fsys pfs.Service, prealloc int, rng *rand.Rand, buf []byte, workers int) error {
	if err := removeAll(ctx, fsys, s.root); err != nil {
		return fmt.Errorf("workloads: fileset %s: remove old tree: %w", s.root, err)
	}
	parent, _ := pfs.Split(s.root)
	if err := mkdirAll(ctx, fsys, parent); err != nil {
		return err
	}
	for _, d := range s.dirs {
		if err := fsys.Mkdir(ctx, d, 0o755); err != nil {
			return fmt.Errorf("workloads: fileset %s: %w", s.root, err)
		}
	}
	var todo []int
	for i := range s.entries {
		if rng.IntN(100) < prealloc {
			todo = append(todo, i)
		}
	}
	next := make(chan int)
	errc := make(chan error, workers)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := writeFile(ctx, fsys, s.entries[i].path, s.entries[i].size, buf); err != nil {
					errc <- fmt.Errorf("workloads: fileset %s: preallocate: %w", s.root, err)
					for range next {
					}
					return
				}
				s.entries[i].exists = true
			}
		}()
	}
	for _, i := range todo {
		next <- i
	}
	close(next)
	wg.Wait()
	close(errc)
	return <-errc
}

// pickKind selects which entries a pick may return.
type pickKind int

const (
	pickExisting  pickKind = iota // exists; the caller holds a ref until release
	pickNoExist                   // does not exist; marked busy until created
	pickDeletable                 // exists, nobody holds it; marked busy until deleted
)

// pick returns an entry index or -1 when no entry is available right now
// (Filebench would stop the run with "could not obtain a file"; we count
// it and go on). Like Filebench's fileset_pick without rotatefd, all
// threads share one rotor over existing entries and one over missing ones,
// each advancing in index order past entries in use.
func (s *fileset) pick(kind pickKind, rng *rand.Rand) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.entries)
	if n == 0 {
		return -1
	}
	var start int
	switch {
	case s.random:
		start = rng.IntN(n)
	case kind == pickNoExist:
		start = s.nerotor
	default:
		start = s.exrotor
	}
	for k := range n {
		i := (start + k) % n
		e := &s.entries[i]
		if e.busy {
			continue
		}
		switch kind {
		case pickExisting:
			if !e.exists {
				continue
			}
			e.refs++
		case pickNoExist:
			if e.exists || e.refs > 0 {
				continue
			}
			e.busy = true
		case pickDeletable:
			if !e.exists || e.refs > 0 {
				continue
			}
			e.busy = true
		}
		if kind == pickNoExist {
			s.nerotor = (i + 1) % n
		} else {
			s.exrotor = (i + 1) % n
		}
		return i
	}
	return -1
}

// created ends a pickNoExist: on success the file exists and the creator
// holds a ref.
func (s *fileset) created(i int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.entries[i]
	e.busy = false
	if ok {
		e.exists = true
		e.refs++
	}
}

// deleted ends a pickDeletable.
func (s *fileset) deleted(i int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := &s.entries[i]
	e.busy = false
	if ok {
		e.exists = false
	}
}

// release drops a ref taken by pickExisting or created.
func (s *fileset) release(i int) {
	s.mu.Lock()
	s.entries[i].refs--
	s.mu.Unlock()
}

// existing counts the entries that exist.
func (s *fileset) existing() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.entries {
		if e.exists {
			n++
		}
	}
	return n
}

// noResource records a failed pick and lets the other threads run, so that a
// starved thread does not spin.
func noResource(st *opStats) {
	st.counters["norsc"]++
	runtime.Gosched()
}

// flowopErr names the flowop and file of a failure.
func flowopErr(flowop, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("workloads: %s %s: file vanished (another tenant or layer changed the fileset?): %w", flowop, path, err)
	}
	return fmt.Errorf("workloads: %s %s: %w", flowop, path, err)
}

// openDoClose runs Filebench's openfile, op, closefile flowops on entry i
// of the set, then releases it: each step is timed into st (op only when
// it worked), and an error names the flowop and the file.
func (s *fileset) openDoClose(ctx context.Context, fsys pfs.Service, st *opStats, i, flags int, op string, body func(pfs.File) error) error {
	defer s.release(i)
	path := s.entries[i].path
	t := time.Now()
	f, err := fsys.Open(ctx, path, flags, 0)
	if err != nil {
		return flowopErr("openfile", path, err)
	}
	st.done("openfile", t)
	t = time.Now()
	err = body(f)
	if err == nil {
		st.done(op, t)
	}
	t = time.Now()
	cerr := f.Close()
	st.done("closefile", t)
	if err = errors.Join(err, cerr); err != nil {
		return flowopErr(op, path, err)
	}
	return nil
}
