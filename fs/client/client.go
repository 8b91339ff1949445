// Package client is the Go filesystem library of the user-level I/O path:
// it reaches a pool's filesystem service over shared memory (front driver,
// package fs/front) and implements fs.Service on top, so Go workloads and
// the conformance suite run through the IPC path unchanged.
//
// Dial returns a Client: one registered process, itself an fs.Service rooted
// at "/" of the mount table (a name outside every mount fails with an error
// that errors.Is ErrNotOurs, errno EXDEV); FS(root) gives the view of one
// directory, as the harness's "client" opener uses. The fd API (OpenFd,
// ReadFd, WriteFd, PreadFd, PwriteFd, Lseek, Dup, CloseFd, FstatFd) mirrors
// what the preload library does for an application.
//
// A Client's private state is the library fd
// table (library fds start at wire.LibFdBase and never collide with kernel
// fds), the working directory and uid/gid; the shared state (open files,
// offsets, reference counts) lives in the service. Paths are resolved
// against the mount table in shared memory by longest prefix; a path outside
// every mount fails with ErrNotOurs so that callers fall back to the kernel.
//
// Each call takes a request buffer for its duration (runtime.LockOSThread
// held meanwhile), writes paths and data into the buffer's data area (in
// chunks of the area's size; SMC copies with the builtin copy, SMO with the
// non-temporal routine of ipc/copy; with CMA the service moves the payload
// itself with process_vm_readv/writev on this process's memory) and waits
// for completion (spin, then futex sleep; a dead service gives ENOTCONN
// within about a second).
//
// Process semantics the preload library follows too: ForkPrepare before
// fork (the service copies the parent's references to a pending slot),
// ForkCommit with the child's pid in the parent, Dial with Options.ForkToken
// plus Adopt(parent state) in the child; SaveExec before exec and Dial with
// Options.RestoreExec in the new image.
//
// Lock order: Client.mu only.
package client

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/front"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// ErrNotOurs: the path is outside every mount of the service; the caller
// should use the kernel.
var ErrNotOurs = errors.New("client: path is not served by the filesystem service")

// Options configures Dial.
type Options struct {
	// Pool names the pool whose service to reach (segment key
	// wire.SegmentKey(Pool)); empty means $POLYTROPON_POOL, then
	// "default". Key, when non-zero, is the System V key itself.
	Pool string
	Key  int
	// Copy is the data transfer: "SMC", "SMO" or "CMA"; empty means the
	// service's default.
	Copy string
	// Wait overrides the completion wait strategy ("spin",
	// "spin-futex", "futex"); SpinFor bounds the spin of spin-futex.
	Wait    string
	SpinFor time.Duration
	// Pin pins each thread to the core group of the queue that served
	// its first request.
	Pin bool
	// ReadyTimeout bounds the wait for a starting service (0: 5s).
	ReadyTimeout time.Duration
	// EagerWake: see front.Options.
	EagerWake bool
	// ForkToken claims the slot a parent prepared with ForkPrepare.
	ForkToken uint64
	// RestoreExec restores the state this pid saved with SaveExec.
	RestoreExec bool
}

// Client is a connection of this process to its pool's service.
type Client struct {
	conn    *front.Conn
	root    FS // the fs.Service view at "/" (service.go)
	slot    uint32
	copy    uint32
	pin     bool
	pinned  sync.Map // tid -> struct{}
	dataMax int

	mu       sync.Mutex
	fds      map[int]*libFile
	nextFd   int
	cwd      string
	uid, gid uint32
	mounts   []wire.Mount // longest path first
	mountGen uint64
	closed   bool
}

// libFile is one library fd.
type libFile struct {
	sfd   uint64
	flags int
}

// Dial attaches the pool's segment and registers this process.
func Dial(ctx context.Context, opts Options) (*Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := opts.Key
	if key == 0 {
		pool := opts.Pool
		if pool == "" {
			pool = os.Getenv("POLYTROPON_POOL")
		}
		if pool == "" {
			pool = "default"
		}
		key = wire.SegmentKey(pool)
	}
	fo := front.Options{SpinFor: opts.SpinFor, ReadyTimeout: opts.ReadyTimeout, EagerWake: opts.EagerWake}
	if opts.Wait != "" {
		w, err := queue.ParseWait(opts.Wait)
		if err != nil {
			return nil, fmt.Errorf("client: %w", err)
		}
		fo.Wait = &w
	}
	conn, err := front.Attach(key, fo)
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{conn: conn, pin: opts.Pin, fds: map[int]*libFile{}, nextFd: wire.LibFdBase, cwd: "/",
		uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()), dataMax: int(conn.W.Layout.DataSize)}
	c.root = FS{c: c, root: "/"}
	if wd, err := os.Getwd(); err == nil {
		c.cwd = wd
	}
	c.copy = conn.W.Layout.CopyMethod
	if opts.Copy != "" {
		id, ok := wire.ParseCopy(opts.Copy)
		if !ok {
			conn.Close()
			return nil, fmt.Errorf("client: unknown copy method %q (want SMC, SMO or CMA)", opts.Copy)
		}
		c.copy = id
	}
	slot, err := c.simple(wire.Request{Call: wire.CallRegister, Args: [wire.NumArgs]uint64{opts.ForkToken}}, "register")
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("client: %w", err)
	}
	c.slot = uint32(slot)
	if opts.RestoreExec {
		if err := c.restoreExec(); err != nil {
			c.Close()
			return nil, fmt.Errorf("client: %w", err)
		}
	}
	return c, nil
}

// Close unregisters (dropping every reference this process holds) and
// detaches. Safe to call more than once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.fds = map[int]*libFile{}
	c.mu.Unlock()
	var err error
	// A request another process of the pool scribbled in flight is
	// rejected or answered EIO, and the slot would stay taken until this
	// process exits (a process that dials again after each such failure
	// would fill the client table): unregister is asked once more.
	for try := 0; try < 2 && !c.conn.Dead(); try++ {
		if _, err = c.simple(wire.Request{Call: wire.CallUnregister}, "unregister"); err == nil || errors.Is(err, syscall.ENOTCONN) {
			break
		}
	}
	return errors.Join(err, c.conn.Close())
}

// Slot is this process's client-table slot.
func (c *Client) Slot() uint32 { return c.slot }

// CopyMethod names the data transfer in use.
func (c *Client) CopyMethod() string { return wire.CopyName(c.copy) }

// call is one request being built in a buffer.
type call struct {
	c   *Client
	b   *wire.Buffer
	req wire.Request
	at  uint32 // next free byte of the data area
}

// begin locks the OS thread and takes a request buffer. The call is a
// value (no allocation per request).
func (c *Client) begin() (call, error) {
	runtime.LockOSThread()
	b, err := c.conn.Get()
	if err != nil {
		runtime.UnlockOSThread()
		if errors.Is(err, syscall.ENOTCONN) {
			return call{}, syscall.ENOTCONN
		}
		if errors.Is(err, front.ErrNoBuffer) {
			return call{}, syscall.EAGAIN
		}
		return call{}, syscall.EIO
	}
	return call{c: c, b: b, req: wire.Request{Client: c.slot, Uid: c.uid, Gid: c.gid}}, nil
}

func (cl *call) end() {
	cl.c.conn.Put(cl.b)
	runtime.UnlockOSThread()
}

// put copies p into the data area and returns its range (8-byte aligned).
func (cl *call) put(p []byte) (wire.Range, error) { return putBytes(cl, p) }

// putString is put for a string (no conversion, no allocation).
func (cl *call) putString(p string) (wire.Range, error) { return putBytes(cl, p) }

func putBytes[T []byte | string](cl *call, p T) (wire.Range, error) {
	if uint64(cl.at)+uint64(len(p)) > cl.b.Data.Len() {
		return wire.Range{}, syscall.ENAMETOOLONG
	}
	dst, err := cl.b.Data.Slice(uint64(cl.at), uint64(len(p)))
	if err != nil {
		return wire.Range{}, syscall.EINVAL
	}
	copy(dst, p)
	rg := wire.Range{Off: cl.at, Len: uint32(len(p))}
	cl.at = (cl.at + uint32(len(p)) + 7) &^ 7
	return rg, nil
}

func (cl *call) path(p string) error {
	if len(p) > wire.PathMax {
		return syscall.ENAMETOOLONG
	}
	rg, err := cl.putString(p)
	cl.req.Path = rg
	return err
}

func (cl *call) path2(p string) error {
	if len(p) > wire.PathMax {
		return syscall.ENAMETOOLONG
	}
	rg, err := cl.putString(p)
	cl.req.Path2 = rg
	return err
}

// outRest gives the rest of the data area (at most max bytes) as output.
func (cl *call) outRest(max int) wire.Range {
	n := uint32(cl.b.Data.Len()) - cl.at
	if max >= 0 && uint32(max) < n {
		n = uint32(max)
	}
	cl.req.Out = wire.Range{Off: cl.at, Len: n}
	return cl.req.Out
}

func (cl *call) bytes(rg wire.Range) []byte {
	p, _ := cl.b.Data.Slice(uint64(rg.Off), uint64(rg.Len))
	return p
}

// do submits the request and returns Ret or the errno it carries.
func (cl *call) do() (int64, error) {
	c := cl.c
	q := c.conn.QueueOfCurrentCPU()
	if c.pin {
		c.pinThread(q)
	}
	ret, err := c.conn.Call(cl.b, q, &cl.req)
	if err != nil {
		if errors.Is(err, syscall.EIO) { // a queue the service could not rebuild
			return 0, syscall.EIO
		}
		return 0, syscall.ENOTCONN
	}
	if ret < 0 {
		if ret < -4095 {
			return 0, syscall.EIO
		}
		return 0, syscall.Errno(-ret)
	}
	return ret, nil
}

// pinThread pins the calling OS thread to the CPUs of queue q the first
// time the thread makes a request.
func (c *Client) pinThread(q uint32) {
	tid := unix.Gettid()
	if _, done := c.pinned.LoadOrStore(tid, struct{}{}); done {
		return
	}
	var set unix.CPUSet
	for _, cpu := range c.conn.CPUsOfQueue(q) {
		set.Set(cpu)
	}
	if set.Count() > 0 {
		unix.SchedSetaffinity(0, &set)
	}
}

// simple runs a request without data.
func (c *Client) simple(req wire.Request, op string) (int64, error) {
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	req.Client = c.slot
	req.Uid, req.Gid = c.uid, c.gid
	cl.req = req
	return cl.do()
}

// Info returns the service's counters.
func (c *Client) Info() (wire.Info, error) {
	cl, err := c.begin()
	if err != nil {
		return wire.Info{}, err
	}
	defer cl.end()
	cl.req.Call = wire.CallInfo
	out := cl.outRest(int(wire.InfoSize))
	if _, err := cl.do(); err != nil {
		return wire.Info{}, err
	}
	return wire.GetInfo(cl.bytes(out)), nil
}

// Null makes a no-op round trip (benchmarks).
func (c *Client) Null() error {
	_, err := c.simple(wire.Request{Call: wire.CallNull}, "null")
	return err
}

// refreshMounts reloads the mount table when its generation changed.
// Preconditions: c.mu held.
func (c *Client) refreshMountsLocked() {
	g := c.conn.W.MountGen()
	if g == c.mountGen && c.mounts != nil {
		return
	}
	ms, gen := c.conn.W.ReadMounts()
	sort.Slice(ms, func(i, j int) bool { return len(ms[i].Path) > len(ms[j].Path) })
	if ms == nil {
		ms = []wire.Mount{}
	}
	c.mounts, c.mountGen = ms, gen
}

// Mounts returns the mount table.
func (c *Client) Mounts() []wire.Mount {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refreshMountsLocked()
	return append([]wire.Mount(nil), c.mounts...)
}

// absPath makes p absolute against the working directory and cleans it.
// Preconditions: c.mu held.
func (c *Client) absPathLocked(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = c.cwd + "/" + p
	}
	return path.Clean(p)
}

// Resolve maps a path (relative to the working directory) to the instance
// serving it and the name inside that instance; ErrNotOurs when no mount
// covers it.
func (c *Client) Resolve(p string) (instance uint32, name string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.resolveLocked(c.absPathLocked(p))
}

// Preconditions: c.mu held; abs is absolute and clean.
func (c *Client) resolveLocked(abs string) (uint32, string, error) {
	c.refreshMountsLocked()
	for _, m := range c.mounts {
		switch {
		case m.Path == "/":
			return m.Instance, strings.TrimPrefix(abs, "/"), nil
		case abs == m.Path:
			return m.Instance, "", nil
		case strings.HasPrefix(abs, m.Path+"/"):
			return m.Instance, abs[len(m.Path)+1:], nil
		}
	}
	return 0, "", fmt.Errorf("%w: %s", ErrNotOurs, abs)
}

// Mount asks the service to mount an instance (see fs/service): fstype
// "local" with options "dir=/host/dir[,readonly=1]", or "clone" with
// "upper=/host/dir" under a shareable union. It returns the instance id.
func (c *Client) Mount(mountPath, fstype, options string, share bool) (uint32, error) {
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	cl.req.Call = wire.CallMount
	if share {
		cl.req.Args[0] = wire.MountShared
	}
	if err := cl.path(mountPath); err != nil {
		return 0, err
	}
	if err := cl.path2(fstype); err != nil {
		return 0, err
	}
	if cl.req.Data, err = cl.put([]byte(options)); err != nil {
		return 0, err
	}
	id, err := cl.do()
	if err != nil {
		return 0, &os.PathError{Op: "mount", Path: mountPath, Err: err}
	}
	return uint32(id), nil
}

// Umount removes a mount; the instance goes once its files are closed.
func (c *Client) Umount(mountPath string) error {
	cl, err := c.begin()
	if err != nil {
		return err
	}
	defer cl.end()
	cl.req.Call = wire.CallUmount
	if err := cl.path(mountPath); err != nil {
		return err
	}
	if _, err := cl.do(); err != nil {
		return &os.PathError{Op: "umount", Path: mountPath, Err: err}
	}
	return nil
}
