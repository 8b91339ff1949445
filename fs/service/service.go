// Package service is the filesystem service of a pool: the standalone
// user-level process (polytropon serve) that runs the pool's filesystem
// instances and serves the pool's applications over shared memory.
//
// # Concepts
//
//   - Instance: a stack of libservices (local, union, registered wrappers
//     such as a cache) mounted at a path. The filesystem table maps mount
//     path -> instance; the mount table in the segment (package fs/wire)
//     publishes it to clients, which resolve paths by longest prefix. A
//     MOUNT request with a full match returns the existing instance; a
//     partial match with sharing allowed creates a clone that shares the
//     matching instance's read-only branches by reference.
//   - Service open file: the libservice File, its instance, cleaned path,
//     flags, the offset used by READ/WRITE/LSEEK and a directory stream for
//     GETDENTS; reference counted and shared by every process that holds
//     it (dup, fork). Addressed by service fds = index + generation, so a
//     stale or forged fd is rejected with EBADF.
//   - Client: one registered process (slot in the client table, keyed by
//     pid), holding references to open files. A reaper drops every
//     reference of a dead process; FORK copies the parent's references to a
//     pending slot that the child claims; EXEC_SAVE keeps the state of an
//     exec'ing process in its slot.
//
// The back driver (package fs/back) runs one service thread per request
// queue. Every request is validated against the segment bounds and the
// service's own tables before it touches a libservice: the service never
// trusts shared memory.
//
// Instances are built by a stack.Builder (package fs/stack), which also
// holds what they share.
//
// Lock order: Service.mu, then openFile.ioMu, then openFile.mu; Service.mu,
// then the stack.Builder's lock (shared libservices and cache pools).
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"polytropon/fs/back"
	"polytropon/fs/stack"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

// ErrRunning: another live service owns the pool's segment.
var ErrRunning = errors.New("service: another service is running for this pool")

// Service is a running filesystem service.
type Service struct {
	cfg Config
	log *log.Logger
	// rejects logs rejected requests: 20 lines, then a count every 10 s.
	rejects *back.Incidents
	seg     *shm.Segment
	w       *wire.Seg
	driver  *back.Driver
	stacks  stack.Builder // the instances' stacks and what they share
	pid     int

	// mu guards the tables below.
	mu           sync.RWMutex
	instances    map[uint32]*instance
	nextInstance uint32
	mountUsed    []bool
	files        []*openFile // by index; nil = free
	fileGen      []uint32
	freeFiles    []uint32
	openCount    int
	clients      []*client // by slot; nil = free

	locks  lockTable  // advisory record locks (its own mutex)
	reapMu sync.Mutex // serializes reapClients

	rejected atomic.Uint64
	answered atomic.Uint64

	stopOnce sync.Once
	stopErr  error
	done     chan struct{} // closed by Stop
	hkDone   chan struct{} // closed when housekeeping returns (nil before Start)
}

// New builds the instances of cfg, creates and formats the pool's segment
// and returns a service ready to Start. Logs go to logw (nil: stderr).
func New(cfg Config, logw io.Writer) (_ *Service, err error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logw == nil {
		logw = os.Stderr
	}
	s := &Service{
		cfg: cfg, log: log.New(logw, "polytropon serve: ", log.LstdFlags|log.Lmicroseconds),
		pid: os.Getpid(), instances: map[uint32]*instance{}, done: make(chan struct{}),
	}
	s.rejects = &back.Incidents{Burst: 20, Logf: s.log.Printf}
	design, _ := queue.Lookup(cfg.Design)
	wait, _ := queue.ParseWait(cfg.Wait)
	copyID, _ := wire.ParseCopy(cfg.Copy)
	qmap, nq, err := coreGroups(cfg.CPUs, cfg.Queues)
	if err != nil {
		return nil, err
	}
	qcfg := queue.Config{Capacity: nextPow2(2 * cfg.Buffers), Wait: wait}
	qbytes := design.Size(qcfg)
	if qbytes <= 0 {
		return nil, fmt.Errorf("%w: design %s reports no memory size for capacity %d", ErrConfig, cfg.Design, qcfg.Capacity)
	}
	lay, err := wire.NewLayout(wire.Params{
		QueueDesign: cfg.Design, QueueWait: uint32(wait), SpinMicros: uint32(cfg.SpinMicros),
		QueueCapacity: uint32(qcfg.Capacity), QueueBytes: uint64(qbytes), NumQueues: uint32(nq),
		NumMounts: uint32(cfg.Mounts), NumClients: uint32(cfg.Clients), NumBuffers: uint32(cfg.Buffers),
		DataSize: uint32(cfg.BufferSize), CopyMethod: copyID, QueueOfCPU: qmap, ServiceID: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	s.mountUsed = make([]bool, cfg.Mounts)
	s.clients = make([]*client, cfg.Clients)

	seg, err := createSegment(cfg.SegmentKey(), int(lay.SegmentSize), s.log)
	if err != nil {
		return nil, err
	}
	s.seg = seg
	defer func() {
		if err != nil {
			seg.Remove()
			seg.Detach()
		}
	}()
	if s.w, err = wire.Format(s.seg.Bytes(), lay, s.pid); err != nil {
		return nil, err
	}
	s.mu.Lock()
	built := make([]*instance, len(cfg.Instances))
	for i, ic := range cfg.Instances {
		p, _ := CleanMountPath(ic.Path)
		if built[i], err = s.addInstanceLocked(p, ic.Share, ic.Stack); err != nil {
			s.mu.Unlock()
			s.closeInstances()
			return nil, fmt.Errorf("service: instance[%d] at %s: %w", i, p, err)
		}
		built[i].weight = ic.Weight
	}
	s.mu.Unlock()
	s.driver, err = back.New(s.w, back.Config{
		Design: design, Queue: qcfg, SpinFor: time.Duration(cfg.SpinMicros) * time.Microsecond, Pin: cfg.Pin, ExtraThreshold: cfg.ExtraThreshold,
		MaxExtra: cfg.MaxExtra, Nice: cfg.Nice, Logf: s.log.Printf, Dispatch: cfg.dispatch(),
	}, s)
	if err != nil {
		s.closeInstances()
		return nil, err
	}
	for i, ic := range cfg.Instances {
		if !ic.Fuse.Enabled() {
			continue
		}
		if err = s.mountFuse(built[i], ic.Fuse.Mountpoint(built[i].path), ic.FuseKernelCache); err != nil {
			s.stopAllFuse(fuseStopWait)
			s.closeInstances()
			return nil, fmt.Errorf("service: instance[%d] at %s: %w", i, built[i].path, err)
		}
	}
	return s, nil
}

// createSegment creates the pool's segment; a leftover segment of a dead
// service is removed first, a live service's is an error.
func createSegment(key, size int, lg *log.Logger) (*shm.Segment, error) {
	seg, err := shm.Create(key, size)
	if err == nil {
		return seg, nil
	}
	if !errors.Is(err, os.ErrExist) {
		return nil, err
	}
	old, oerr := shm.Open(key)
	if oerr != nil {
		return nil, fmt.Errorf("service: key %#x exists but cannot be opened: %w", key, oerr)
	}
	if w, werr := wire.Open(old.Bytes()); werr == nil {
		if pid := w.ServicePid(); pid > 0 && processAlive(pid) && w.Status() != wire.StatusStopping {
			old.Detach()
			return nil, fmt.Errorf("%w (pid %d, key %#x)", ErrRunning, pid, key)
		}
	}
	lg.Printf("removing the leftover segment %d of a dead service (key %#x)", old.ID(), key)
	old.Remove()
	old.Detach()
	return shm.Create(key, size)
}

// Key is the segment key clients attach.
func (s *Service) Key() int { return s.cfg.SegmentKey() }

// SegmentID is the kernel id of the segment.
func (s *Service) SegmentID() int { return s.seg.ID() }

// Start runs the service threads, the heartbeat and the reaper, and marks
// the segment ready.
func (s *Service) Start() {
	s.driver.Start()
	s.w.Beat()
	s.w.SetStatus(wire.StatusReady)
	s.hkDone = make(chan struct{})
	go s.housekeeping()
}

// Run starts the service and serves until ctx is done, then stops it.
func (s *Service) Run(ctx context.Context) error {
	s.Start()
	<-ctx.Done()
	return s.Stop()
}

// housekeeping beats the heartbeat and validates the queues (quarantining
// corrupted ones) every wire.HeartbeatInterval and reaps dead clients
// every 100 ms.
func (s *Service) housekeeping() {
	defer close(s.hkDone)
	tick := time.NewTicker(wire.HeartbeatInterval)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		s.w.Beat()
		s.driver.Check()
		s.driver.Balance()
		if n++; n%2 == 0 {
			s.reap()
		}
	}
}

// Stop marks the segment stopping, removes the FUSE mounts, stops the
// service threads, closes every open file and instance and removes the
// segment. Idempotent.
func (s *Service) Stop() error {
	s.stopOnce.Do(func() {
		close(s.done)
		if s.hkDone != nil {
			<-s.hkDone // it touches the segment, which goes away below
		}
		s.w.SetStatus(wire.StatusStopping)
		// No FUSE mount may outlive the service (lazily detached if busy).
		s.stopAllFuse(fuseStopWait)
		s.driver.Stop()
		s.logTenantStats() // tenant_stats.go
		s.rejects.Flush()
		s.mu.Lock()
		for i, f := range s.files {
			if f != nil {
				s.files[i] = nil
				f.close()
			}
		}
		s.openCount = 0
		s.mu.Unlock()
		s.closeInstances()
		s.stopErr = errors.Join(s.seg.Remove(), s.seg.Detach())
	})
	return s.stopErr
}

func (s *Service) closeInstances() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.instances {
		in.unmounted, in.files, in.holders, in.fuse = true, 0, 0, nil
	}
	for _, in := range s.instances {
		s.maybeCloseLocked(in)
	}
}

// Info returns the service counters.
func (s *Service) Info() wire.Info {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in := wire.Info{
		OpenFiles: uint64(s.openCount), Instances: uint64(len(s.instances)),
		Served: s.answered.Load(), Rejected: s.rejected.Load() + s.driver.Dropped(),
		Dropped: s.driver.Dropped(), Threads: uint64(s.driver.Threads()),
	}
	for _, c := range s.clients {
		switch {
		case c == nil:
		case c.state == wire.ClientForkPending:
			in.ForkTokens++
		default:
			in.Clients++
		}
	}
	return in
}

func nextPow2(n int) int {
	p := 2
	for p < n {
		p <<= 1
	}
	return p
}

func processAlive(pid int) bool { return wire.ProcessAlive(pid) }
