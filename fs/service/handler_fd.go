package service

import (
	"context"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// The fd calls: an open file the client holds, named by the sfd in
// Args[0].

// serveFd serves the fd calls of client c.
func (s *Service) serveFd(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	sfd := req.Args[0]
	switch req.Call {
	case wire.CallClose:
		return s.closeFd(c, sfd)
	case wire.CallDup:
		return s.dupFd(c, sfd)
	}
	f, e := s.useFile(c, sfd)
	if e != 0 {
		return 0, e, true
	}
	defer f.ioMu.RUnlock()
	return s.serveFile(f, c, b, req)
}

// closeFd serves CallClose: c's reference goes, and the file is closed
// with its last one.
func (s *Service) closeFd(c *client, sfd uint64) (int64, syscall.Errno, bool) {
	s.releasePOSIXOnClose(c, sfd)
	s.mu.Lock()
	f, e := s.fileLocked(c, sfd)
	if e != 0 {
		s.mu.Unlock()
		return 0, e, true
	}
	cf := s.dropRefsLocked(c, f, 1)
	s.mu.Unlock()
	s.closeFiles(cf)
	return 0, 0, false
}

// dupFd serves CallDup: c holds one more reference to the same open file.
func (s *Service) dupFd(c *client, sfd uint64) (int64, syscall.Errno, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f, e := s.fileLocked(c, sfd)
	if e != 0 {
		return 0, e, true
	}
	f.refs++
	c.holds[f.index]++
	return 0, 0, false
}

// serveFile serves the fd calls that use the open file f.
// Preconditions: f.ioMu held for reading.
func (s *Service) serveFile(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	a := req.Args
	ctx := context.Background()
	switch req.Call {
	case wire.CallRead, wire.CallPread:
		return s.read(f, c, b, req)
	case wire.CallWrite, wire.CallPwrite:
		return s.write(f, c, b, req)
	case wire.CallLseek:
		return s.lseek(f, int64(a[1]), int(int32(a[2])))
	case wire.CallFstat:
		return statResult(b, req, f.file.Stat)
	case wire.CallFtruncate:
		if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
			return 0, syscall.EINVAL, false // ftruncate(2) on a read-only fd
		}
		return errnoResult(f.file.Truncate(int64(a[1])))
	case wire.CallFsync:
		return errnoResult(f.file.Sync(a[1] == 1))
	case wire.CallFallocate:
		return errnoResult(f.file.Allocate(uint32(a[1]), int64(a[2]), int64(a[3])))
	case wire.CallFchmod:
		return errnoResult(f.inst.svc.Chmod(ctx, f.name, uint32(a[1])&0o7777))
	case wire.CallFchown:
		return errnoResult(f.inst.svc.Chown(ctx, f.name, int(int32(a[1])), int(int32(a[2])), unix.AT_SYMLINK_NOFOLLOW))
	case wire.CallFutimens:
		t := [2]fs.Timespec{{Sec: int64(a[1]), Nsec: int64(a[2])}, {Sec: int64(a[3]), Nsec: int64(a[4])}}
		return errnoResult(f.inst.svc.Utimens(ctx, f.name, t, unix.AT_SYMLINK_NOFOLLOW))
	case wire.CallFstatfs:
		return statfsResult(b, req, func() (fs.Statfs, error) { return f.inst.svc.Statfs(ctx, f.name) })
	case wire.CallGetdents:
		return s.getdents(f, b, req)
	case wire.CallLock:
		return s.lockCall(f, c, b, req)
	}
	return 0, syscall.ENOSYS, true
}
