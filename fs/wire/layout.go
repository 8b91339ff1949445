package wire

// The structures below are the shared-memory layout. They are never
// instantiated over shared memory in Go (no pointer casts): their field
// offsets, taken with reflect, give the byte offsets that the accessors in
// view.go use through bounds-checked shm.Region calls, and they generate the
// C header fs/preload/polytropon_wire.h. Every field has a fixed size and
// explicit padding, so Go and C agree (a test compiles the header and
// compares sizeof/offsetof with the Go values).

// Protocol identification.
const (
	Magic   = 0x504f4c5957495245 // "POLYWIRE"
	Version = 2                  // 2: completion line apart (Done, Waiter, Ret), no Pending counter
)

// Sizes and limits of the layout.
const (
	CacheLine      = 64
	PageSize       = 4096
	MaxCPUs        = 256  // entries of Header.QueueOfCPU
	MaxQueues      = 64   // bound on Header.NumQueues
	DesignNameMax  = 16   // bytes of Header.QueueDesign
	MountPathMax   = 240  // bytes of MountEntry.Path (no NUL needed)
	ExecBlobMax    = 4032 // bytes of ClientSlot.Exec
	NumArgs        = 8    // Desc.Args
	PathMax        = 4096 // longest path accepted in a request
	DataAreaOffset = PageSize
	// LibFdBase is the first library fd. Linux never hands out a kernel fd
	// this large (fs.nr_open is capped below 2^30), so library and kernel
	// fds never collide.
	LibFdBase = 1 << 30
)

// Header.Status values.
const (
	StatusStarting = 0
	StatusReady    = 1
	StatusStopping = 2
)

// Header is at offset 0 of the segment. It is written by the service before
// it sets Status = StatusReady; afterwards only Heartbeat, Status and
// MountGen change.
type Header struct {
	Magic       uint64
	Version     uint32
	HeaderSize  uint32
	SegmentSize uint64
	ServicePid  int32
	Status      uint32
	// Heartbeat is CLOCK_MONOTONIC in nanoseconds, stored by the service
	// every HeartbeatInterval; clients treat a value older than
	// HeartbeatStale as a dead service.
	Heartbeat     uint64
	StartTime     uint64 // CLOCK_MONOTONIC ns when the service started
	QueueDesign   [DesignNameMax]byte
	QueueWait     uint32 // queue.Wait: 0 spin, 1 spin-futex, 2 futex
	SpinMicros    uint32 // how long waiters poll before they sleep (spin-futex)
	CopyMethod    uint32 // default CopySMC, CopySMO or CopyCMA
	NumQueues     uint32
	QueueCapacity uint32
	QueueStride   uint32 // bytes per queue: QueueStats + queue memory, multiple of 64
	QueuesOff     uint64
	MountsOff     uint64
	NumMounts     uint32
	MountStride   uint32
	// MountGen is the mount table's seqlock: odd while the service
	// writes, bumped twice per change. Readers copy the table and retry
	// when the value changed or was odd.
	MountGen     uint64
	ClientsOff   uint64
	NumClients   uint32
	ClientStride uint32
	BuffersOff   uint64
	NumBuffers   uint32
	BufferStride uint32
	DataSize     uint32 // bytes of each buffer's data area
	NumCPUs      uint32 // valid entries of QueueOfCPU
	ServiceID    uint32 // id of this service in mount entries
	_            [4]byte
	// QueueOfCPU maps a CPU number to the queue of its core group.
	QueueOfCPU [MaxCPUs]uint8
}

// QueueStats is the first cache line of each queue's area. It holds no
// per-request counter: a word that both sides update on every request
// costs two cache-line transfers per round trip, so the back driver reads
// the queue's own backlog (tail - head) off the request path instead.
//
// Gen is the queue's generation: the service bumps it when it quarantines
// a corrupted queue and formats its memory anew (fs/back). A client that
// sees its enqueue fail (corrupt or closed queue) waits for Gen to change,
// attaches the queue again and retries; a request caught in the old queue
// is answered with EIO.
//
// Awake is the number of the queue's service threads not asleep on the
// queue's futex (serving or polling). A waiting client burns its CPU only
// while it is not zero (ipc/queue's AdaptiveWait.TickAwake): a thread its
// enqueue woke needs a CPU, maybe the client's. Advisory: the service
// only writes it, and a tenant's lie changes how the pool's clients wait,
// not what they get.
type QueueStats struct {
	Threads uint32 // service threads serving this queue
	Gen     uint32
	Awake   uint32
	_       [52]byte
}

// MountEntry flags.
const (
	MountUsed     = 1 << 0
	MountReadOnly = 1 << 1
	MountShared   = 1 << 2 // libservices of this instance may be shared by new mounts
)

// MountEntry maps a mount path to an instance of a service.
type MountEntry struct {
	Flags    uint32
	Service  uint32
	Instance uint32
	PathLen  uint32
	Path     [MountPathMax]byte // absolute, cleaned, no trailing slash ("/" for the root)
}

// ClientSlot.State values.
const (
	ClientFree        = 0
	ClientActive      = 1
	ClientForkPending = 2 // created by FORK, waiting for the child's REGISTER
	ClientExecSaved   = 3 // process is exec'ing; Exec holds its state
)

// ClientSlot is one client process. The service writes it; clients read
// their own slot (the exec blob after an exec).
type ClientSlot struct {
	State   uint32
	Pid     int32
	Gen     uint32
	ExecLen uint32
	Token   uint64 // fork token while ClientForkPending
	_       [40]byte
	Exec    [ExecBlobMax]byte
}

// Desc.State values.
const (
	StateIdle      = 0 // owned (or free), no request in flight
	StateSubmitted = 1 // filled by the client, queued
	StateBusy      = 2 // taken by a service thread (and answered once Done is 1)
)

// Desc.Flags bits.
const (
	// FlagCMA: data moves by cross-memory attach. Args[AddrArg] is the
	// address of the client's buffer in the process Desc.Owner; the data
	// area is not used for the payload.
	FlagCMA = 1 << 0
)

// Desc is the request descriptor at the start of each buffer.
type Desc struct {
	State uint32 // StateIdle/Submitted/Busy
	// Queue is the queue the client enqueued the buffer on (written
	// before State = Submitted): when that queue is quarantined, the
	// service fails the buffers submitted on it with EIO.
	Queue uint32
	Owner int32 // pid of the process holding the buffer; 0 = free; -pid = parked by pid (doc.go)
	Tid   int32 // thread id of the caller (diagnostics)
	_     [8]byte
	Seq   uint64 // per-buffer request counter (diagnostics)
	// The request (lines 0-2).
	Call     uint32
	Flags    uint32
	Client   uint32 // client slot index (from REGISTER)
	Instance uint32 // target instance of path calls
	Uid      uint32
	Gid      uint32
	_        [8]byte
	Args     [NumArgs]uint64
	// Ranges inside the data area: input paths, input data, output.
	PathOff  uint32
	PathLen  uint32
	Path2Off uint32
	Path2Len uint32
	DataOff  uint32
	DataLen  uint32
	OutOff   uint32
	OutLen   uint32
	_        [32]byte
	// Line 3: the completion, apart from the request lines. The client
	// spins (or sleeps) on Done while the service takes the request by a
	// CAS on State: were they on one line, the client's polling would
	// bounce that line between the cores once more per request.
	Done   uint32 // 1 once Ret and the output are valid; the futex word
	Waiter uint32 // 1 while the client sleeps (or is about to) on Done
	Ret    int64  // result: >= 0, or -errno
	_      [48]byte
}

// Copy methods (Header.CopyMethod and the client option).
const (
	CopySMC = 0
	CopySMO = 1
	CopyCMA = 2
)

// CopyName returns the ipc/copy name of a copy method id.
func CopyName(id uint32) string {
	switch id {
	case CopySMC:
		return "SMC"
	case CopySMO:
		return "SMO"
	case CopyCMA:
		return "CMA"
	}
	return "?"
}

// ParseCopy is the inverse of CopyName.
func ParseCopy(name string) (uint32, bool) {
	switch name {
	case "SMC", "smc":
		return CopySMC, true
	case "SMO", "smo":
		return CopySMO, true
	case "CMA", "cma":
		return CopyCMA, true
	}
	return 0, false
}

// Stat is fs.Stat on the wire (FSTAT, STAT, LSTAT output).
type Stat struct {
	Dev       uint64
	Ino       uint64
	Mode      uint32
	Nlink     uint32
	Uid       uint32
	Gid       uint32
	Rdev      uint64
	Size      int64
	Blksize   int64
	Blocks    int64
	AtimeSec  int64
	AtimeNsec int64
	MtimeSec  int64
	MtimeNsec int64
	CtimeSec  int64
	CtimeNsec int64
}

// Statfs is fs.Statfs on the wire (STATFS, FSTATFS output).
type Statfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Namelen int64
	Frsize  int64
}

// Dirent64 is the fixed head of one GETDENTS record, laid out like Linux's
// struct linux_dirent64 so the preload library can hand the batch to
// getdents64 callers unchanged: the NUL-terminated name follows at
// DirentNameOffset and Reclen (a multiple of 8) covers head, name and pad.
// Off is the stream position after this entry (opaque).
type Dirent64 struct {
	Ino    uint64
	Off    int64
	Reclen uint16
	Type   uint8
}

// DirentNameOffset is where the name starts in a Dirent64 record.
const DirentNameOffset = 19

// Info is the output of CALL_INFO: service counters for tests and tools.
type Info struct {
	OpenFiles  uint64 // service open files
	Clients    uint64 // registered client processes
	Instances  uint64
	Served     uint64 // requests answered
	Rejected   uint64 // requests answered with a validation error or dropped
	Dropped    uint64 // queue items dropped (bad index, not submitted)
	Threads    uint64 // service threads running
	ForkTokens uint64 // fork slots not yet claimed
}

// ExecHeader starts the exec-state blob a library saves before exec
// (EXEC_SAVE) and restores in the new image (EXEC_RESTORE). ExecFd
// records follow, then CwdLen bytes of the working directory, then the
// fds' paths (PathLen bytes each, in record order). A saver short of room
// drops paths (PathLen 0), never fds.
type ExecHeader struct {
	Version uint32
	NumFds  uint32
	CwdLen  uint32
	Uid     uint32
	Gid     uint32
	_       [4]byte
}

// ExecFd is one library fd carried across exec.
type ExecFd struct {
	Fd      int32  // library fd number
	Flags   int32  // open flags (O_APPEND etc.), without O_CLOEXEC
	Sfd     uint64 // service fd
	PathLen uint32 // bytes of its absolute path in the path area (0: none kept)
	Inst    uint32 // instance id
}

// ExecVersion is ExecHeader.Version (2: fds keep their instance and path,
// which *at calls and fchdir relative to them need).
const ExecVersion = 2
