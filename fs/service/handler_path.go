package service

import (
	"context"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// The path calls: a name (Path, cleaned) in the mounted instance the
// request names.

// servePath serves the path calls of client c.
func (s *Service) servePath(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	in, e := s.instanceOf(req.Instance)
	if e != 0 {
		return 0, e, true
	}
	raw, e := b.PathAt(req.Path)
	if e != 0 {
		return 0, e, true
	}
	name := fs.Clean(raw)
	ctx := context.Background()
	svc := in.svc
	a := req.Args
	switch req.Call {
	case wire.CallOpen:
		return s.open(c, in, name, int(int32(a[0]))&^unix.O_CLOEXEC, uint32(a[1])&0o7777)
	case wire.CallStat:
		return statResult(b, req, func() (fs.Stat, error) { return svc.Stat(ctx, name) })
	case wire.CallLstat:
		return statResult(b, req, func() (fs.Stat, error) { return svc.Lstat(ctx, name) })
	case wire.CallMkdir:
		return errnoResult(svc.Mkdir(ctx, name, uint32(a[0])&0o7777))
	case wire.CallRmdir:
		return errnoResult(svc.Rmdir(ctx, name))
	case wire.CallUnlink:
		return errnoResult(svc.Unlink(ctx, name))
	case wire.CallRename, wire.CallLink:
		return renameOrLink(svc, name, b, req)
	case wire.CallSymlink:
		return symlink(svc, name, b, req)
	case wire.CallReadlink:
		return readlink(svc, name, b, req)
	case wire.CallChmod:
		return errnoResult(svc.Chmod(ctx, name, uint32(a[0])&0o7777))
	case wire.CallChown:
		return errnoResult(svc.Chown(ctx, name, int(int32(a[0])), int(int32(a[1])), int(int32(a[2]))))
	case wire.CallUtimens:
		t := [2]fs.Timespec{{Sec: int64(a[0]), Nsec: int64(a[1])}, {Sec: int64(a[2]), Nsec: int64(a[3])}}
		return errnoResult(svc.Utimens(ctx, name, t, int(int32(a[4]))))
	case wire.CallTruncate:
		return errnoResult(svc.Truncate(ctx, name, int64(a[0])))
	case wire.CallAccess:
		return errnoResult(svc.Access(ctx, name, uint32(a[0])))
	case wire.CallStatfs:
		return statfsResult(b, req, func() (fs.Statfs, error) { return svc.Statfs(ctx, name) })
	case wire.CallGetxattr, wire.CallSetxattr, wire.CallListxattr, wire.CallRemovexattr:
		return xattr(svc, name, b, req)
	}
	return 0, syscall.ENOSYS, true
}

// instanceOf validates the request's instance.
func (s *Service) instanceOf(id uint32) (*instance, syscall.Errno) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	in, ok := s.instances[id]
	if !ok {
		return nil, syscall.ENODEV
	}
	if in.unmounted {
		return nil, syscall.ESTALE
	}
	return in, 0
}

// open serves CallOpen: it opens name in instance in and enters the file,
// held once by c, in the service's table.
func (s *Service) open(c *client, in *instance, name string, flags int, mode uint32) (int64, syscall.Errno, bool) {
	ctx := context.Background()
	var dir fs.Dir
	if flags&unix.O_DIRECTORY != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
		// A directory open (opendir): the stream comes from OpenDir,
		// which has opendir's errno semantics; the File (fstat,
		// fchmod...) from a plain read-only open.
		if flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC) != 0 {
			return 0, syscall.EISDIR, false
		}
		d, err := in.svc.OpenDir(ctx, name)
		if err != nil {
			return errnoResult(err)
		}
		dir, flags = d, flags&^unix.O_DIRECTORY
	}
	f, err := in.svc.Open(ctx, name, flags, mode)
	if err != nil {
		if dir != nil {
			dir.Close()
		}
		return errnoResult(err)
	}
	sfd, e := s.addOpened(c, in, f, dir, name, flags)
	if e != 0 {
		if dir != nil {
			dir.Close()
		}
		f.Close()
		return 0, e, false
	}
	return int64(sfd), 0, false
}

// addOpened enters file f (and the directory stream of an opendir) unless
// c unregistered or in was unmounted while it was being opened (ESTALE).
// On an error the caller closes f and dir.
func (s *Service) addOpened(c *client, in *instance, f fs.File, dir fs.Dir, name string, flags int) (uint64, syscall.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.slot] != c || in.unmounted {
		return 0, syscall.ESTALE
	}
	sfd, e := s.addFileLocked(c, in, f, name, flags)
	if e == 0 && dir != nil {
		idx, _ := wire.SplitSfd(sfd)
		s.files[idx].dir = dir
	}
	return sfd, e
}

// renameOrLink serves CallRename and CallLink: name to Path2, cleaned, in
// the same instance.
func renameOrLink(svc fs.Service, name string, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	p, e := b.PathAt(req.Path2)
	if e != 0 {
		return 0, e, true
	}
	to := fs.Clean(p)
	if req.Call == wire.CallRename {
		return errnoResult(svc.Rename(context.Background(), name, to, uint32(req.Args[0])))
	}
	return errnoResult(svc.Link(context.Background(), name, to))
}

// symlink serves CallSymlink: the target in Path2 is stored verbatim.
func symlink(svc fs.Service, name string, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	target, e := b.PathAt(req.Path2)
	if e != 0 {
		return 0, e, true
	}
	return errnoResult(svc.Symlink(context.Background(), target, name))
}

// readlink serves CallReadlink: the target, truncated to Out as
// readlink(2) does.
func readlink(svc fs.Service, name string, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	out, e := b.Bytes(req.Out)
	if e != 0 {
		return 0, e, true
	}
	t, err := svc.Readlink(context.Background(), name)
	if err != nil {
		return errnoResult(err)
	}
	return int64(copy(out, t)), 0, false
}

// xattr serves the extended-attribute calls; ENOTSUP when the instance's
// stack has no xattrs.
func xattr(svc fs.Service, name string, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	x, ok := svc.(fs.Xattrer)
	if !ok {
		return 0, syscall.ENOTSUP, false
	}
	ctx := context.Background()
	if req.Call == wire.CallListxattr {
		out, e := xattrOut(b, req)
		if e != 0 {
			return 0, e, true
		}
		return sizeResult(x.Listxattr(ctx, name, out))
	}
	attr, e := b.PathAt(req.Path2)
	if e != 0 {
		return 0, e, true
	}
	switch req.Call {
	case wire.CallGetxattr:
		out, e := xattrOut(b, req)
		if e != 0 {
			return 0, e, true
		}
		return sizeResult(x.Getxattr(ctx, name, attr, out))
	case wire.CallSetxattr:
		data, e := b.Bytes(req.Data)
		if e != 0 {
			return 0, e, true
		}
		return errnoResult(x.Setxattr(ctx, name, attr, data, int(int32(req.Args[0]))))
	}
	return errnoResult(x.Removexattr(ctx, name, attr))
}

// xattrOut is Out cut to the size the caller gave (0: query the size).
func xattrOut(b *wire.Buffer, req *wire.Request) ([]byte, syscall.Errno) {
	out, e := b.Bytes(req.Out)
	if e != 0 {
		return nil, e
	}
	return out[:min(req.Args[0], uint64(len(out)))], 0
}
