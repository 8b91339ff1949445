package wire

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"polytropon/ipc/shm"
)

var (
	// ErrBadSegment: the segment's header is missing, of another version,
	// or describes a layout that does not fit the segment.
	ErrBadSegment = errors.New("wire: bad segment")
	// ErrBadParams: NewLayout got parameters out of range.
	ErrBadParams = errors.New("wire: bad layout parameters")
)

// Liveness timing shared by both sides.
const (
	HeartbeatInterval = 50 * time.Millisecond
	// HeartbeatStale is how old a heartbeat may be before clients
	// consider the service hung if its process is stopped (SIGSTOP, a
	// debugger). A dead service is noticed at once by its pid.
	HeartbeatStale = 3 * time.Second
	// HeartbeatSilent is how old a heartbeat may be before clients
	// consider a service that is not stopped hung: a late heartbeat alone
	// proves nothing, since 32 services starved on 2 CPUs miss theirs by
	// seconds, so only a silence far beyond any starvation counts.
	HeartbeatSilent = 30 * time.Second
)

// SegmentKey is the System V key of a pool's service segment.
func SegmentKey(pool string) int { return shm.Key(pool, "polytropon-service") }

// Params are the choices that determine a segment's layout.
type Params struct {
	QueueDesign   string // a Shared queue design
	QueueWait     uint32
	SpinMicros    uint32
	QueueCapacity uint32
	QueueBytes    uint64 // memory one queue needs (Design.Size)
	NumQueues     uint32
	NumMounts     uint32
	NumClients    uint32
	NumBuffers    uint32
	DataSize      uint32 // bytes per data area, multiple of PageSize
	CopyMethod    uint32
	QueueOfCPU    []uint8 // CPU -> queue; at most MaxCPUs entries
	ServiceID     uint32
}

// Layout is Params plus the offsets derived from them.
type Layout struct {
	Params
	QueueStride  uint64
	QueuesOff    uint64
	MountsOff    uint64
	ClientsOff   uint64
	BuffersOff   uint64
	BufferStride uint64
	SegmentSize  uint64
}

func alignUp(v, a uint64) uint64 { return (v + a - 1) / a * a }

// NewLayout checks p and computes the offsets.
func NewLayout(p Params) (Layout, error) {
	switch {
	case len(p.QueueDesign) == 0 || len(p.QueueDesign) > DesignNameMax:
		return Layout{}, fmt.Errorf("%w: queue design name %q (1..%d bytes)", ErrBadParams, p.QueueDesign, DesignNameMax)
	case p.NumQueues == 0 || p.NumQueues > MaxQueues:
		return Layout{}, fmt.Errorf("%w: %d queues (1..%d)", ErrBadParams, p.NumQueues, MaxQueues)
	case p.QueueBytes == 0 || p.QueueBytes > 1<<30:
		return Layout{}, fmt.Errorf("%w: queue memory %d bytes", ErrBadParams, p.QueueBytes)
	case p.NumMounts == 0 || p.NumMounts > 1<<16:
		return Layout{}, fmt.Errorf("%w: %d mount entries (1..65536)", ErrBadParams, p.NumMounts)
	case p.NumClients == 0 || p.NumClients > 1<<16:
		return Layout{}, fmt.Errorf("%w: %d client slots (1..65536)", ErrBadParams, p.NumClients)
	case p.NumBuffers == 0 || p.NumBuffers > 1<<16:
		return Layout{}, fmt.Errorf("%w: %d buffers (1..65536)", ErrBadParams, p.NumBuffers)
	case p.DataSize < PageSize || p.DataSize > 1<<28 || p.DataSize%PageSize != 0:
		return Layout{}, fmt.Errorf("%w: data area of %d bytes (a multiple of %d, at most 256 MiB)", ErrBadParams, p.DataSize, PageSize)
	case p.CopyMethod > CopyCMA:
		return Layout{}, fmt.Errorf("%w: copy method %d", ErrBadParams, p.CopyMethod)
	case len(p.QueueOfCPU) > MaxCPUs:
		return Layout{}, fmt.Errorf("%w: %d CPUs (at most %d)", ErrBadParams, len(p.QueueOfCPU), MaxCPUs)
	}
	for cpu, q := range p.QueueOfCPU {
		if uint32(q) >= p.NumQueues {
			return Layout{}, fmt.Errorf("%w: CPU %d maps to queue %d of %d", ErrBadParams, cpu, q, p.NumQueues)
		}
	}
	l := Layout{Params: p}
	l.QueueStride = QueueStatsSize + alignUp(p.QueueBytes, CacheLine)
	l.QueuesOff = alignUp(HeaderSize, CacheLine)
	l.MountsOff = alignUp(l.QueuesOff+uint64(p.NumQueues)*l.QueueStride, CacheLine)
	l.ClientsOff = alignUp(l.MountsOff+uint64(p.NumMounts)*MountEntrySize, CacheLine)
	l.BuffersOff = alignUp(l.ClientsOff+uint64(p.NumClients)*ClientSlotSize, PageSize)
	l.BufferStride = DataAreaOffset + uint64(p.DataSize)
	l.SegmentSize = l.BuffersOff + uint64(p.NumBuffers)*l.BufferStride
	if l.QueueStride > 1<<32-1 || l.BufferStride > 1<<32-1 {
		return Layout{}, fmt.Errorf("%w: stride overflow", ErrBadParams)
	}
	return l, nil
}

// Seg is a view of a formatted (or attached) segment.
type Seg struct {
	R      shm.Region
	Layout Layout

	heartbeat *uint64
	status    *uint32
	pid       *uint32
	mountGen  *uint64
}

// Format writes the header of layout l into mem (which must be zeroed and
// at least l.SegmentSize long) with Status = StatusStarting. The service
// formats the queues and then calls SetStatus(StatusReady).
func Format(mem []byte, l Layout, servicePid int) (*Seg, error) {
	if uint64(len(mem)) < l.SegmentSize {
		return nil, fmt.Errorf("%w: %d bytes for a layout of %d", ErrBadSegment, len(mem), l.SegmentSize)
	}
	r := shm.NewRegion(mem[:l.SegmentSize])
	put32 := func(off uint64, v uint32) { r.PutUint32At(off, v) }
	put64 := func(off uint64, v uint64) { r.PutUint64At(off, v) }
	put32(hVersion, Version)
	put32(hHeaderSize, uint32(HeaderSize))
	put64(hSegmentSize, l.SegmentSize)
	put32(hServicePid, uint32(servicePid))
	now := MonotonicNow()
	put64(hHeartbeat, now)
	put64(hStartTime, now)
	name, _ := r.Slice(hQueueDesign, DesignNameMax)
	copy(name, l.QueueDesign)
	put32(hQueueWait, l.QueueWait)
	put32(hSpinMicros, l.SpinMicros)
	put32(hCopyMethod, l.CopyMethod)
	put32(hNumQueues, l.NumQueues)
	put32(hQueueCapacity, l.QueueCapacity)
	put32(hQueueStride, uint32(l.QueueStride))
	put64(hQueuesOff, l.QueuesOff)
	put64(hMountsOff, l.MountsOff)
	put32(hNumMounts, l.NumMounts)
	put32(hMountStride, uint32(MountEntrySize))
	put64(hClientsOff, l.ClientsOff)
	put32(hNumClients, l.NumClients)
	put32(hClientStride, uint32(ClientSlotSize))
	put64(hBuffersOff, l.BuffersOff)
	put32(hNumBuffers, l.NumBuffers)
	put32(hBufferStride, uint32(l.BufferStride))
	put32(hDataSize, l.DataSize)
	put32(hNumCPUs, uint32(len(l.QueueOfCPU)))
	put32(hServiceID, l.ServiceID)
	m, _ := r.Slice(hQueueOfCPU, MaxCPUs)
	copy(m, l.QueueOfCPU)
	s, err := newSeg(r, l)
	if err != nil {
		return nil, err
	}
	if err := r.StoreUint64(hMagic, Magic); err != nil { // publish last
		return nil, err
	}
	return s, nil
}

// Open validates the header of an attached segment and returns its view.
// Nothing in the header is trusted: every count and offset is checked
// against the segment size.
func Open(mem []byte) (*Seg, error) {
	r := shm.NewRegion(mem)
	magic, err := r.LoadUint64(hMagic)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSegment, err)
	}
	if magic != Magic {
		return nil, fmt.Errorf("%w: magic %#x, want %#x (not formatted yet, or not a service segment)", ErrBadSegment, magic, uint64(Magic))
	}
	get32 := func(off uint64) uint32 { v, _ := r.Uint32At(off); return v }
	get64 := func(off uint64) uint64 { v, _ := r.Uint64At(off); return v }
	if v := get32(hVersion); v != Version {
		return nil, fmt.Errorf("%w: protocol version %d, want %d", ErrBadSegment, v, Version)
	}
	if v := get32(hHeaderSize); uint64(v) != HeaderSize {
		return nil, fmt.Errorf("%w: header of %d bytes, want %d", ErrBadSegment, v, HeaderSize)
	}
	name, _ := r.Slice(hQueueDesign, DesignNameMax)
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	p := Params{
		QueueDesign:   string(name),
		QueueWait:     get32(hQueueWait),
		SpinMicros:    get32(hSpinMicros),
		CopyMethod:    get32(hCopyMethod),
		NumQueues:     get32(hNumQueues),
		QueueCapacity: get32(hQueueCapacity),
		NumMounts:     get32(hNumMounts),
		NumClients:    get32(hNumClients),
		NumBuffers:    get32(hNumBuffers),
		DataSize:      get32(hDataSize),
		ServiceID:     get32(hServiceID),
	}
	stride := uint64(get32(hQueueStride))
	if stride < QueueStatsSize+CacheLine {
		return nil, fmt.Errorf("%w: queue stride %d", ErrBadSegment, stride)
	}
	p.QueueBytes = stride - QueueStatsSize
	ncpu := get32(hNumCPUs)
	if ncpu > MaxCPUs {
		return nil, fmt.Errorf("%w: %d CPUs in the queue map", ErrBadSegment, ncpu)
	}
	m, _ := r.Slice(hQueueOfCPU, uint64(ncpu))
	p.QueueOfCPU = append([]uint8(nil), m...)
	l, err := NewLayout(p)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSegment, err)
	}
	// The recorded offsets must be the ones the parameters give.
	for _, c := range []struct {
		what      string
		got, want uint64
	}{
		{"queue stride", stride, l.QueueStride},
		{"queues offset", get64(hQueuesOff), l.QueuesOff},
		{"mounts offset", get64(hMountsOff), l.MountsOff},
		{"mount stride", uint64(get32(hMountStride)), MountEntrySize},
		{"clients offset", get64(hClientsOff), l.ClientsOff},
		{"client stride", uint64(get32(hClientStride)), ClientSlotSize},
		{"buffers offset", get64(hBuffersOff), l.BuffersOff},
		{"buffer stride", uint64(get32(hBufferStride)), l.BufferStride},
		{"segment size", get64(hSegmentSize), l.SegmentSize},
	} {
		if c.got != c.want {
			return nil, fmt.Errorf("%w: %s %d, want %d", ErrBadSegment, c.what, c.got, c.want)
		}
	}
	if l.SegmentSize > r.Len() {
		return nil, fmt.Errorf("%w: layout needs %d bytes, segment has %d", ErrBadSegment, l.SegmentSize, r.Len())
	}
	sub, _ := r.Sub(0, l.SegmentSize)
	return newSeg(sub, l)
}

func newSeg(r shm.Region, l Layout) (*Seg, error) {
	s := &Seg{R: r, Layout: l}
	var err error
	if s.heartbeat, err = r.Uint64Ptr(hHeartbeat); err != nil {
		return nil, err
	}
	if s.status, err = r.Uint32Ptr(hStatus); err != nil {
		return nil, err
	}
	if s.pid, err = r.Uint32Ptr(hServicePid); err != nil {
		return nil, err
	}
	if s.mountGen, err = r.Uint64Ptr(hMountGen); err != nil {
		return nil, err
	}
	return s, nil
}

// QueueMem returns the memory of queue i (for queue.Design.New) and the
// region of its QueueStats.
func (s *Seg) QueueMem(i uint32) ([]byte, QueueStatsView, error) {
	if i >= s.Layout.NumQueues {
		return nil, QueueStatsView{}, fmt.Errorf("%w: queue %d of %d", ErrBadSegment, i, s.Layout.NumQueues)
	}
	base := s.Layout.QueuesOff + uint64(i)*s.Layout.QueueStride
	st, err := s.R.Sub(base, QueueStatsSize)
	if err != nil {
		return nil, QueueStatsView{}, err
	}
	mem, err := s.R.Slice(base+QueueStatsSize, s.Layout.QueueStride-QueueStatsSize)
	if err != nil {
		return nil, QueueStatsView{}, err
	}
	v := QueueStatsView{}
	if v.Threads, err = st.Uint32Ptr(qThreads); err != nil {
		return nil, v, err
	}
	if v.Gen, err = st.Uint32Ptr(qGen); err != nil {
		return nil, v, err
	}
	if v.Awake, err = st.Uint32Ptr(qAwake); err != nil {
		return nil, v, err
	}
	return mem, v, nil
}

// QueueStatsView points at the words of one QueueStats.
type QueueStatsView struct {
	Threads *uint32
	Gen     *uint32 // the queue's generation (see QueueStats)
	Awake   *uint32 // service threads not asleep (see QueueStats)
}

// ServiceAwake reports whether a service thread of the queue is awake
// (QueueStats.Awake; true for a view without the word).
func (v QueueStatsView) ServiceAwake() bool { return v.Awake == nil || atomic.LoadUint32(v.Awake) != 0 }

// AddAwake adds delta to the queue's awake service threads (the service's
// threads, as they wake and before they sleep).
func (v QueueStatsView) AddAwake(delta int32) { atomic.AddUint32(v.Awake, uint32(delta)) }

// QueueFor returns the queue of the given CPU (queue 0 for CPUs outside the
// map).
func (s *Seg) QueueFor(cpu int) uint32 {
	if cpu < 0 || cpu >= len(s.Layout.QueueOfCPU) {
		return 0
	}
	return uint32(s.Layout.QueueOfCPU[cpu])
}
