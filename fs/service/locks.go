package service

import (
	"math"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// lockTable holds the advisory locks of the service's files: fcntl record
// locks (POSIX, owned by a process, and OFD, owned by an open file) and
// flock(2) locks, so that the client processes of a pool see each other's
// locks as they would on a kernel filesystem. Locks are keyed by the
// file's identity (device and inode as the instance reports them), not by
// its name, so hard links and renames keep them. The table never blocks:
// a conflicting set answers EAGAIN, and a client that wants to wait
// retries (no deadlock detection: F_SETLKW never answers EDEADLK).
type lockTable struct {
	mu    sync.Mutex
	files map[lockKey][]fileLock
	count atomic.Int64 // locks held, so closes skip the table while it is empty
}

// lockKey names a file's lock list; flock locks are a namespace of their
// own (on Linux they never conflict with fcntl locks).
type lockKey struct {
	flock    bool
	dev, ino uint64
}

// lockOwner is a process (POSIX locks) or an open file (OFD and flock).
type lockOwner struct {
	pid  int
	file *openFile
}

// fileLock covers the bytes [start, end) of a file; end == lockEOF means
// to the end of the file, however far it grows.
type fileLock struct {
	owner      lockOwner
	write      bool
	start, end int64
}

const lockEOF = math.MaxInt64

func (o lockOwner) infoPid() int64 {
	if o.file != nil {
		return -1
	}
	return int64(o.pid)
}

// conflictLocked returns the first lock of key, held by another owner,
// that a lock of the given type on [start, end) would conflict with.
// Preconditions: t.mu held.
func (t *lockTable) conflictLocked(key lockKey, owner lockOwner, write bool, start, end int64) (fileLock, bool) {
	for _, l := range t.files[key] {
		if l.owner != owner && l.start < end && start < l.end && (write || l.write) {
			return l, true
		}
	}
	return fileLock{}, false
}

// get answers F_GETLK: the first conflicting lock and its owner, or Type
// F_UNLCK.
func (t *lockTable) get(key lockKey, owner lockOwner, write bool, start, end int64) (wire.LockInfo, lockOwner) {
	t.mu.Lock()
	defer t.mu.Unlock()
	l, ok := t.conflictLocked(key, owner, write, start, end)
	if !ok {
		return wire.LockInfo{Type: unix.F_UNLCK}, lockOwner{}
	}
	li := wire.LockInfo{Type: unix.F_RDLCK, Pid: l.owner.infoPid(), Start: l.start}
	if l.write {
		li.Type = unix.F_WRLCK
	}
	if l.end != lockEOF {
		li.Len = l.end - l.start
	}
	return li, l.owner
}

// set takes (typ F_RDLCK, F_WRLCK) or releases (F_UNLCK) [start, end) for
// owner: the owner's locks in the range are replaced, split where the
// range cuts them, and merged with touching locks of the same type, as
// fcntl(2) does. EAGAIN and the owner of a conflicting lock when there is
// one; nothing changes then.
func (t *lockTable) set(key lockKey, owner lockOwner, typ int, start, end int64) (syscall.Errno, lockOwner) {
	t.mu.Lock()
	defer t.mu.Unlock()
	write := typ == unix.F_WRLCK
	if typ != unix.F_UNLCK {
		if l, ok := t.conflictLocked(key, owner, write, start, end); ok {
			return syscall.EAGAIN, l.owner
		}
	}
	old := t.files[key]
	locks := make([]fileLock, 0, len(old)+2)
	for _, l := range old {
		if l.owner != owner || l.end <= start || l.start >= end {
			locks = append(locks, l)
			continue
		}
		if l.start < start {
			locks = append(locks, fileLock{l.owner, l.write, l.start, start})
		}
		if l.end > end {
			locks = append(locks, fileLock{l.owner, l.write, end, l.end})
		}
	}
	if typ != unix.F_UNLCK {
		n := fileLock{owner, write, start, end}
		kept := locks[:0]
		for _, l := range locks {
			if l.owner == owner && l.write == write && (l.end == n.start || l.start == n.end) {
				n.start, n.end = min(n.start, l.start), max(n.end, l.end)
				continue
			}
			kept = append(kept, l)
		}
		locks = append(kept, n)
	}
	t.replaceLocked(key, old, locks)
	return 0, lockOwner{}
}

// replaceLocked installs a key's new lock list and keeps count.
// Preconditions: t.mu held.
func (t *lockTable) replaceLocked(key lockKey, old, locks []fileLock) {
	t.count.Add(int64(len(locks) - len(old)))
	if len(locks) == 0 {
		delete(t.files, key)
		return
	}
	if t.files == nil {
		t.files = map[lockKey][]fileLock{}
	}
	t.files[key] = locks
}

// drop removes the locks for which match is true, on key only when one is
// given (a process closing an fd of the file) or on every file.
func (t *lockTable) drop(key *lockKey, match func(lockOwner) bool) {
	if t.count.Load() == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropLocked(key, match)
}

// dropLocked is drop with t.mu held.
func (t *lockTable) dropLocked(key *lockKey, match func(lockOwner) bool) {
	filter := func(k lockKey, old []fileLock) {
		locks := make([]fileLock, 0, len(old))
		for _, l := range old {
			if !match(l.owner) {
				locks = append(locks, l)
			}
		}
		if len(locks) != len(old) {
			t.replaceLocked(k, old, locks)
		}
	}
	if key != nil {
		filter(*key, t.files[*key])
		return
	}
	for k, old := range t.files {
		filter(k, old)
	}
}

// dropProcess releases the POSIX locks of a process (it exited, or it
// closed an fd of the file: key).
func (t *lockTable) dropProcess(key *lockKey, pid int) {
	t.drop(key, func(o lockOwner) bool { return o.file == nil && o.pid == pid })
}

// dropFile releases the OFD and flock locks of an open file (its last
// reference is gone).
func (t *lockTable) dropFile(f *openFile) {
	t.drop(nil, func(o lockOwner) bool { return o.file == f })
}

// active reports whether any lock is held.
func (t *lockTable) active() bool { return t.count.Load() != 0 }

// lockRange turns CallLock's start and length into [start, end) and
// validates them (a negative length was folded by the client).
func lockRange(start, length uint64) (int64, int64, syscall.Errno) {
	s, n := int64(start), int64(length)
	if s < 0 || n < 0 {
		return 0, 0, syscall.EINVAL
	}
	if n == 0 {
		return s, lockEOF, 0
	}
	if s > lockEOF-n {
		return 0, 0, syscall.EOVERFLOW
	}
	return s, s + n, 0
}

// lockCall serves CallLock on f for client c.
func (s *Service) lockCall(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	a := req.Args
	op, kind, typ := a[1], a[2], a[3]
	if op > wire.LockSet || kind > wire.LockFlock || typ > unix.F_UNLCK || (op == wire.LockGet && typ == unix.F_UNLCK) {
		return 0, syscall.EINVAL, true
	}
	if kind == wire.LockFlock && (op != wire.LockSet || a[4] != 0 || a[5] != 0) {
		return 0, syscall.EINVAL, true // flock locks the whole file and has no query
	}
	start, end, e := lockRange(a[4], a[5])
	if e != 0 {
		return 0, e, true
	}
	if kind != wire.LockFlock && op == wire.LockSet {
		// fcntl(2): a read lock needs a readable fd, a write lock a writable one.
		acc := f.flags & unix.O_ACCMODE
		if typ == unix.F_RDLCK && acc == unix.O_WRONLY || typ == unix.F_WRLCK && acc == unix.O_RDONLY {
			return 0, syscall.EBADF, false
		}
	}
	key, e := f.lockKey(kind == wire.LockFlock)
	if e != 0 {
		return 0, e, false
	}
	owner := lockOwner{pid: c.pid}
	if kind != wire.LockPOSIX {
		owner = lockOwner{file: f}
		f.locked.Store(true)
	}
	// A conflict may come from a process that is gone but not reaped yet
	// (the kernel drops its locks at exit): then reap and look again.
	if op == wire.LockGet {
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.LockInfoSize) {
			return 0, syscall.EINVAL, true
		}
		li, holder := s.locks.get(key, owner, typ == unix.F_WRLCK, start, end)
		for i := 0; li.Type != unix.F_UNLCK && i < 3 && s.reapIfGone(holder); i++ {
			li, holder = s.locks.get(key, owner, typ == unix.F_WRLCK, start, end)
		}
		wire.PutLockInfo(out, &li)
		return int64(wire.LockInfoSize), 0, false
	}
	e, holder := s.locks.set(key, owner, int(typ), start, end)
	for i := 0; e == syscall.EAGAIN && i < 3 && s.reapIfGone(holder); i++ {
		e, holder = s.locks.set(key, owner, int(typ), start, end)
	}
	return 0, e, false
}

// reapIfGone reaps dead clients when the holder of a conflicting lock is
// gone: its process died (POSIX), or every process holding its open file
// did (OFD, flock). It reports whether the holder was gone, so that the
// caller tries again: this reap or the housekeeping's, which may have been
// releasing the holder's files just then (reapClients waits for it, and
// then finds nothing left to reap), dropped the lock.
func (s *Service) reapIfGone(holder lockOwner) bool {
	if holder.file == nil {
		if processAlive(holder.pid) {
			return false
		}
	} else if s.fileHeldByLiveClient(holder.file) {
		return false
	}
	s.reapClients()
	return true
}

// fileHeldByLiveClient reports whether a running process holds f.
func (s *Service) fileHeldByLiveClient(f *openFile) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.clients {
		// A fork slot not yet claimed counts as its parent would: a dead
		// parent's slot is reaped, not a live holder.
		if c != nil && c.holds[f.index] > 0 && s.files[f.index] == f && !c.gone() {
			return true
		}
	}
	return false
}

// lockKey is the file's identity in the lock table, taken from its
// attributes once and kept (an open file's device and inode do not
// change).
func (f *openFile) lockKey(flock bool) (lockKey, syscall.Errno) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.identKnown {
		st, err := f.file.Stat()
		if err != nil {
			return lockKey{}, fs.Errno(err)
		}
		f.dev, f.ino, f.identKnown = st.Dev, st.Ino, true
	}
	return lockKey{flock: flock, dev: f.dev, ino: f.ino}, 0
}

// releasePOSIXOnClose drops c's POSIX locks on f's file: closing any fd of
// a file releases the process's locks on it (fcntl(2)).
func (s *Service) releasePOSIXOnClose(c *client, sfd uint64) {
	if !s.locks.active() {
		return
	}
	f, e := s.useFile(c, sfd)
	if e != 0 {
		return
	}
	defer f.ioMu.RUnlock()
	if key, e := f.lockKey(false); e == 0 {
		s.locks.dropProcess(&key, c.pid)
	}
}
