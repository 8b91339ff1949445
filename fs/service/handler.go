package service

import (
	"context"
	"io"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/wire"
	xcopy "polytropon/ipc/copy"
)

var _ interface {
	Serve(*wire.Buffer, *wire.Request) int64
} = (*Service)(nil)

// cmaChunk is the service-side bounce buffer of cross-memory transfers.
const cmaChunk = 1 << 20

// maxCMA bounds one cross-memory request.
const maxCMA = 1 << 30

var bouncePool = sync.Pool{New: func() any { b := make([]byte, cmaChunk); return &b }}

// Serve implements the back driver's Handler: it validates the request and
// runs it. Errors become -errno; nothing read from the descriptor is used
// before it is checked.
func (s *Service) Serve(b *wire.Buffer, req *wire.Request) int64 {
	ret, e, rejected := s.serve(b, req)
	if rejected {
		if n := s.rejected.Add(1); n <= 20 || n%1000 == 0 {
			s.log.Printf("rejected request #%d on buffer %d: %s from pid %d (client slot %d): %v",
				n, b.Index, wire.CallName(req.Call), req.Owner, req.Client, e)
		}
	}
	s.answered.Add(1)
	if e != 0 {
		return -int64(e)
	}
	return ret
}

func (s *Service) serve(b *wire.Buffer, req *wire.Request) (ret int64, e syscall.Errno, rejected bool) {
	if req.Call >= wire.NumCalls {
		return 0, syscall.EINVAL, true
	}
	if req.Flags&^wire.FlagCMA != 0 {
		return 0, syscall.EINVAL, true
	}
	switch req.Call {
	case wire.CallNull:
		return 0, 0, false
	case wire.CallRegister:
		r, e := s.register(req)
		return r, e, e != 0
	case wire.CallInfo:
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.InfoSize) {
			return 0, syscall.EINVAL, true
		}
		in := s.Info()
		wire.PutInfo(out, &in)
		return int64(wire.InfoSize), 0, false
	}
	c, e := s.clientOf(req)
	if e != 0 {
		return 0, e, true
	}
	switch req.Call {
	case wire.CallUnregister:
		s.unregister(c)
		return 0, 0, false
	case wire.CallFork:
		r, e := s.fork(c, req)
		return r, e, false
	case wire.CallExecSave:
		blob, e := b.Bytes(req.Data)
		if e != 0 {
			return 0, e, true
		}
		r, e := s.execSave(c, blob)
		return r, e, e == syscall.EINVAL
	case wire.CallExecRestore:
		out, e := b.Bytes(req.Out)
		if e != 0 {
			return 0, e, true
		}
		r, e := s.execRestore(c, out)
		return r, e, false
	case wire.CallMount:
		p, e1 := b.PathAt(req.Path)
		typ, e2 := b.PathAt(req.Path2)
		opts, e3 := b.Bytes(req.Data)
		if e1 != 0 || e2 != 0 || e3 != 0 {
			return 0, syscall.EINVAL, true
		}
		id, e, err := s.mount(p, typ, string(opts), req.Args[0]&wire.MountShared != 0)
		if err != nil {
			s.log.Printf("mount %s type %s by pid %d: %v", p, typ, c.pid, err)
		}
		return int64(id), e, false
	case wire.CallUmount:
		p, e := b.PathAt(req.Path)
		if e != 0 {
			return 0, e, true
		}
		e, _ = s.umount(p)
		return 0, e, false
	}
	if isFdCall(req.Call) {
		return s.serveFd(c, b, req)
	}
	return s.servePath(c, b, req)
}

func isFdCall(call uint32) bool {
	switch call {
	case wire.CallClose, wire.CallDup, wire.CallRead, wire.CallWrite, wire.CallPread,
		wire.CallPwrite, wire.CallLseek, wire.CallFstat, wire.CallFtruncate, wire.CallFsync,
		wire.CallFchmod, wire.CallFchown, wire.CallFutimens, wire.CallFstatfs,
		wire.CallFallocate, wire.CallGetdents, wire.CallLock:
		return true
	}
	return false
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
	errno := func(err error) (int64, syscall.Errno, bool) { return 0, fs.Errno(err), false }
	second := func() (string, syscall.Errno) {
		p, e := b.PathAt(req.Path2)
		if e != 0 {
			return "", e
		}
		return fs.Clean(p), 0
	}
	a := req.Args
	switch req.Call {
	case wire.CallOpen:
		flags := int(int32(a[0])) &^ unix.O_CLOEXEC
		var dir fs.Dir
		if flags&unix.O_DIRECTORY != 0 && flags&unix.O_TMPFILE != unix.O_TMPFILE {
			// A directory open (opendir): the stream comes from
			// OpenDir, which has opendir's errno semantics; the File
			// (fstat, fchmod...) from a plain read-only open.
			if flags&(unix.O_ACCMODE|unix.O_CREAT|unix.O_TRUNC) != 0 {
				return 0, syscall.EISDIR, false
			}
			d, err := svc.OpenDir(ctx, name)
			if err != nil {
				return errno(err)
			}
			dir, flags = d, flags&^unix.O_DIRECTORY
		}
		f, err := svc.Open(ctx, name, flags, uint32(a[1])&0o7777)
		if err != nil {
			if dir != nil {
				dir.Close()
			}
			return errno(err)
		}
		s.mu.Lock()
		if s.clients[c.slot] != c || in.unmounted {
			s.mu.Unlock()
			if dir != nil {
				dir.Close()
			}
			f.Close()
			return 0, syscall.ESTALE, false
		}
		sfd, e := s.addFileLocked(c, in, f, name, flags)
		if e == 0 && dir != nil {
			idx, _ := wire.SplitSfd(sfd)
			s.files[idx].dir = dir
		}
		s.mu.Unlock()
		if e != 0 {
			if dir != nil {
				dir.Close()
			}
			f.Close()
			return 0, e, false
		}
		return int64(sfd), 0, false
	case wire.CallStat, wire.CallLstat:
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.StatSize) {
			return 0, syscall.EINVAL, true
		}
		var st fs.Stat
		var err error
		if req.Call == wire.CallStat {
			st, err = svc.Stat(ctx, name)
		} else {
			st, err = svc.Lstat(ctx, name)
		}
		if err != nil {
			return errno(err)
		}
		wire.PutStat(out, &st)
		return int64(wire.StatSize), 0, false
	case wire.CallMkdir:
		return errno(svc.Mkdir(ctx, name, uint32(a[0])&0o7777))
	case wire.CallRmdir:
		return errno(svc.Rmdir(ctx, name))
	case wire.CallUnlink:
		return errno(svc.Unlink(ctx, name))
	case wire.CallRename, wire.CallLink:
		to, e := second()
		if e != 0 {
			return 0, e, true
		}
		if req.Call == wire.CallRename {
			return errno(svc.Rename(ctx, name, to, uint32(a[0])))
		}
		return errno(svc.Link(ctx, name, to))
	case wire.CallSymlink:
		target, e := b.PathAt(req.Path2)
		if e != 0 {
			return 0, e, true
		}
		return errno(svc.Symlink(ctx, target, name))
	case wire.CallReadlink:
		out, e := b.Bytes(req.Out)
		if e != 0 {
			return 0, e, true
		}
		t, err := svc.Readlink(ctx, name)
		if err != nil {
			return errno(err)
		}
		return int64(copy(out, t)), 0, false
	case wire.CallChmod:
		return errno(svc.Chmod(ctx, name, uint32(a[0])&0o7777))
	case wire.CallChown:
		return errno(svc.Chown(ctx, name, int(int32(a[0])), int(int32(a[1])), int(int32(a[2]))))
	case wire.CallUtimens:
		t := [2]fs.Timespec{{Sec: int64(a[0]), Nsec: int64(a[1])}, {Sec: int64(a[2]), Nsec: int64(a[3])}}
		return errno(svc.Utimens(ctx, name, t, int(int32(a[4]))))
	case wire.CallTruncate:
		return errno(svc.Truncate(ctx, name, int64(a[0])))
	case wire.CallAccess:
		return errno(svc.Access(ctx, name, uint32(a[0])))
	case wire.CallStatfs:
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.StatfsSize) {
			return 0, syscall.EINVAL, true
		}
		st, err := svc.Statfs(ctx, name)
		if err != nil {
			return errno(err)
		}
		wire.PutStatfs(out, &st)
		return int64(wire.StatfsSize), 0, false
	case wire.CallGetxattr, wire.CallSetxattr, wire.CallListxattr, wire.CallRemovexattr:
		return s.xattr(svc, name, b, req)
	}
	return 0, syscall.ENOSYS, true
}

func (s *Service) xattr(svc fs.Service, name string, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	x, ok := svc.(fs.Xattrer)
	if !ok {
		return 0, syscall.ENOTSUP, false
	}
	ctx := context.Background()
	var attr string
	if req.Call != wire.CallListxattr {
		var e syscall.Errno
		if attr, e = b.PathAt(req.Path2); e != 0 {
			return 0, e, true
		}
	}
	switch req.Call {
	case wire.CallGetxattr, wire.CallListxattr:
		out, e := b.Bytes(req.Out)
		if e != 0 {
			return 0, e, true
		}
		size := req.Args[0]
		if size > uint64(len(out)) {
			size = uint64(len(out))
		}
		var n int
		var err error
		if req.Call == wire.CallGetxattr {
			n, err = x.Getxattr(ctx, name, attr, out[:size])
		} else {
			n, err = x.Listxattr(ctx, name, out[:size])
		}
		if err != nil {
			return 0, fs.Errno(err), false
		}
		return int64(n), 0, false
	case wire.CallSetxattr:
		data, e := b.Bytes(req.Data)
		if e != 0 {
			return 0, e, true
		}
		return 0, fs.Errno(x.Setxattr(ctx, name, attr, data, int(int32(req.Args[0])))), false
	default:
		return 0, fs.Errno(x.Removexattr(ctx, name, attr)), false
	}
}

func (s *Service) serveFd(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	sfd := req.Args[0]
	switch req.Call {
	case wire.CallClose:
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
	case wire.CallDup:
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
	f, e := s.useFile(c, sfd)
	if e != 0 {
		return 0, e, true
	}
	defer f.ioMu.RUnlock()
	a := req.Args
	ctx := context.Background()
	errno := func(err error) (int64, syscall.Errno, bool) { return 0, fs.Errno(err), false }
	switch req.Call {
	case wire.CallRead, wire.CallPread:
		return s.read(f, c, b, req)
	case wire.CallWrite, wire.CallPwrite:
		return s.write(f, c, b, req)
	case wire.CallLseek:
		return s.lseek(f, int64(a[1]), int(int32(a[2])))
	case wire.CallFstat:
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.StatSize) {
			return 0, syscall.EINVAL, true
		}
		st, err := f.file.Stat()
		if err != nil {
			return errno(err)
		}
		wire.PutStat(out, &st)
		return int64(wire.StatSize), 0, false
	case wire.CallFtruncate:
		if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
			return 0, syscall.EINVAL, false // ftruncate(2) on a read-only fd
		}
		return errno(f.file.Truncate(int64(a[1])))
	case wire.CallFsync:
		return errno(f.file.Sync(a[1] == 1))
	case wire.CallFallocate:
		return errno(f.file.Allocate(uint32(a[1]), int64(a[2]), int64(a[3])))
	case wire.CallFchmod:
		return errno(f.inst.svc.Chmod(ctx, f.name, uint32(a[1])&0o7777))
	case wire.CallFchown:
		return errno(f.inst.svc.Chown(ctx, f.name, int(int32(a[1])), int(int32(a[2])), unix.AT_SYMLINK_NOFOLLOW))
	case wire.CallFutimens:
		t := [2]fs.Timespec{{Sec: int64(a[1]), Nsec: int64(a[2])}, {Sec: int64(a[3]), Nsec: int64(a[4])}}
		return errno(f.inst.svc.Utimens(ctx, f.name, t, unix.AT_SYMLINK_NOFOLLOW))
	case wire.CallFstatfs:
		out, e := b.Bytes(req.Out)
		if e != 0 || len(out) < int(wire.StatfsSize) {
			return 0, syscall.EINVAL, true
		}
		st, err := f.inst.svc.Statfs(ctx, f.name)
		if err != nil {
			return errno(err)
		}
		wire.PutStatfs(out, &st)
		return int64(wire.StatfsSize), 0, false
	case wire.CallGetdents:
		return s.getdents(f, b, req)
	case wire.CallLock:
		return s.lockCall(f, c, b, req)
	}
	return 0, syscall.ENOSYS, true
}

// ioLen validates the byte count and the data range of a data call. With
// FlagCMA the payload lives in the client process; otherwise in the data
// area (Out for reads, Data for writes).
func ioLen(req *wire.Request, rg wire.Range, b *wire.Buffer) ([]byte, int, syscall.Errno) {
	n := req.Args[wire.LenArg]
	if req.Flags&wire.FlagCMA != 0 {
		if n > maxCMA || req.Args[wire.AddrArg] == 0 {
			return nil, 0, syscall.EINVAL
		}
		return nil, int(n), 0
	}
	p, e := b.Bytes(rg)
	if e != 0 {
		return nil, 0, e
	}
	if n > uint64(len(p)) {
		return nil, 0, syscall.EINVAL
	}
	return p[:n], int(n), 0
}

func (s *Service) read(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	dst, n, e := ioLen(req, req.Out, b)
	if e != 0 {
		return 0, e, true
	}
	var off int64
	if req.Call == wire.CallPread {
		off = int64(req.Args[wire.OffArg])
		if off < 0 {
			return 0, syscall.EINVAL, false
		}
	} else {
		f.mu.Lock()
		defer f.mu.Unlock()
		off = f.off
	}
	if f.flags&unix.O_ACCMODE == unix.O_WRONLY {
		return 0, syscall.EBADF, false
	}
	var got int
	var err error
	if req.Flags&wire.FlagCMA != 0 {
		got, err = readToProcess(f.file, c.pid, uintptr(req.Args[wire.AddrArg]), n, off)
	} else {
		got, err = f.file.Pread(dst, off)
	}
	if err != nil && err != io.EOF && got == 0 {
		return 0, fs.Errno(err), false
	}
	if req.Call == wire.CallRead {
		f.off += int64(got)
	}
	return int64(got), 0, false
}

func readToProcess(file fs.File, pid int, addr uintptr, n int, off int64) (int, error) {
	bp := bouncePool.Get().(*[]byte)
	defer bouncePool.Put(bp)
	done := 0
	for done < n {
		chunk := min(n-done, len(*bp))
		m, err := file.Pread((*bp)[:chunk], off+int64(done))
		if m > 0 {
			if _, werr := xcopy.WriteTo(pid, addr+uintptr(done), (*bp)[:m]); werr != nil {
				return done, fs.PathError("process_vm_writev", "", syscall.EFAULT)
			}
			done += m
		}
		if err != nil {
			return done, err
		}
		if m < chunk {
			break
		}
	}
	return done, nil
}

func (s *Service) write(f *openFile, c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	src, n, e := ioLen(req, req.Data, b)
	if e != 0 {
		return 0, e, true
	}
	if f.flags&unix.O_ACCMODE == unix.O_RDONLY {
		return 0, syscall.EBADF, false
	}
	appendMode := f.flags&unix.O_APPEND != 0
	var off int64
	if req.Call == wire.CallPwrite {
		off = int64(req.Args[wire.OffArg])
		if off < 0 && !appendMode {
			return 0, syscall.EINVAL, false
		}
	} else {
		f.mu.Lock()
		defer f.mu.Unlock()
		off = f.off
	}
	var put int
	var err error
	if req.Flags&wire.FlagCMA != 0 {
		put, err = writeFromProcess(f.file, c.pid, uintptr(req.Args[wire.AddrArg]), n, off)
	} else {
		put, err = f.file.Pwrite(src, off)
	}
	if err != nil && put == 0 {
		return 0, fs.Errno(err), false
	}
	if req.Call == wire.CallWrite {
		if appendMode {
			if st, serr := f.file.Stat(); serr == nil {
				f.off = st.Size
			}
		} else {
			f.off += int64(put)
		}
	}
	return int64(put), 0, false
}

func writeFromProcess(file fs.File, pid int, addr uintptr, n int, off int64) (int, error) {
	bp := bouncePool.Get().(*[]byte)
	defer bouncePool.Put(bp)
	done := 0
	for done < n {
		chunk := min(n-done, len(*bp))
		if _, err := xcopy.ReadFrom(pid, (*bp)[:chunk], addr+uintptr(done)); err != nil {
			return done, fs.PathError("process_vm_readv", "", syscall.EFAULT)
		}
		m, err := file.Pwrite((*bp)[:chunk], off+int64(done))
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

func (s *Service) lseek(f *openFile, off int64, whence int) (int64, syscall.Errno, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var base int64
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		base = f.off
	case io.SeekEnd:
		st, err := f.file.Stat()
		if err != nil {
			return 0, fs.Errno(err), false
		}
		base = st.Size
	default:
		return 0, syscall.EINVAL, false
	}
	n := base + off
	if n < 0 || (off > 0 && n < base) {
		return 0, syscall.EINVAL, false
	}
	f.off = n
	if f.dir != nil && n == 0 { // rewinddir
		f.dir.Close()
		f.dir, f.pending, f.dirPos, f.dirDone, f.dots = nil, nil, 0, false, 0
	}
	return n, 0, false
}

// dotEntry is the "." (or "..") entry of directory f. The instance root's
// ".." is the root itself: what lies above the mount path is not the
// instance's.
func (f *openFile) dotEntry(parent bool) (fs.Dirent, error) {
	var st fs.Stat
	var err error
	if parent && f.name != "" {
		dir, _ := fs.Split(f.name)
		st, err = f.inst.svc.Stat(context.Background(), dir)
	} else {
		st, err = f.file.Stat()
	}
	if err != nil {
		return fs.Dirent{}, err
	}
	name := "."
	if parent {
		name = ".."
	}
	return fs.Dirent{Name: name, Ino: st.Ino, Type: syscall.DT_DIR}, nil
}

// getdents packs directory entries into Out as Dirent64 records; entries
// that do not fit wait for the next call. With GetdentsDots, "." and ".."
// come first.
func (s *Service) getdents(f *openFile, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	out, e := b.Bytes(req.Out)
	if e != 0 {
		return 0, e, true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.dir == nil && !f.dirDone {
		st, err := f.file.Stat()
		if err != nil {
			return 0, fs.Errno(err), false
		}
		if !st.IsDir() {
			return 0, syscall.ENOTDIR, false
		}
		d, err := f.inst.svc.OpenDir(context.Background(), f.name)
		if err != nil {
			return 0, fs.Errno(err), false
		}
		f.dir = d
	}
	at := 0
	if req.Args[1]&wire.GetdentsDots != 0 && f.dirPos == int64(f.dots) {
		for f.dots < 2 {
			d, err := f.dotEntry(f.dots == 1)
			if err != nil {
				return 0, fs.Errno(err), false
			}
			next := wire.PutDirent(out, at, &d, f.dirPos+1)
			if next < 0 {
				if at == 0 {
					return 0, syscall.EINVAL, false
				}
				return int64(at), 0, false
			}
			at = next
			f.dirPos++
			f.dots++
		}
	}
	for {
		if len(f.pending) == 0 {
			if f.dirDone {
				break
			}
			ents, err := f.dir.ReadDir(128)
			if err != nil {
				if at > 0 {
					break
				}
				return 0, fs.Errno(err), false
			}
			if len(ents) == 0 {
				f.dirDone = true
				break
			}
			f.pending = ents
		}
		d := &f.pending[0]
		if strings.IndexByte(d.Name, 0) >= 0 || len(d.Name) > 255 {
			f.pending = f.pending[1:] // cannot be represented; skip
			continue
		}
		next := wire.PutDirent(out, at, d, f.dirPos+1)
		if next < 0 {
			if at == 0 {
				return 0, syscall.EINVAL, false // buffer too small for one entry
			}
			break
		}
		at = next
		f.dirPos++
		f.pending = f.pending[1:]
	}
	return int64(at), 0, false
}
