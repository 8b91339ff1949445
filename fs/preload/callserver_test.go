package preload_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"sync"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/service/servicetest"
)

// callServer is an fs.Service whose every call is made by a running
// testdata/callserver.c: the Go side encodes the call, the C program does
// the matching libc call (open, pread, fstat, readdir, lsetxattr,
// copy_file_range...) and sends back the result and errno, which come out
// unchanged as the call's error. With the preload library in the program's
// LD_PRELOAD, fs/fstest's cases thus exercise the library; without it, the
// kernel (the reference). File handles are the program's fds.
//
// Names are cleaned (fs.Clean) and joined to root, the service root as the
// program sees it; symlink targets are passed verbatim.
type callServer struct {
	root string
	cmd  *exec.Cmd
	log  *servicetest.Log // the program's stderr

	writeMu sync.Mutex
	stdin   io.WriteCloser

	mu      sync.Mutex
	nextID  uint32
	pending map[uint32]chan callReply
	gone    error // set when the reply stream ended
	exited  chan struct{}
}

var (
	_ fs.Service        = (*callServer)(nil)
	_ fs.Xattrer        = (*callServer)(nil)
	_ fs.File           = (*callFile)(nil)
	_ fs.CopyFileRanger = (*callFile)(nil)
	_ fs.Dir            = (*callDir)(nil)
)

// Operations of testdata/callserver.c (its OP_* constants).
const (
	opOpen uint32 = 1 + iota
	opStat
	opLstat
	opMkdir
	opRmdir
	opUnlink
	opRename
	opOpendir
	opReaddir
	opClosedir
	opSymlink
	opReadlink
	opLink
	opChmod
	opChown
	opUtimens
	opTruncate
	opAccess
	opStatfs
	opPread
	opPwrite
	opFstat
	opFtruncate
	opFsync
	opFallocate
	opClose
	opGetxattr
	opSetxattr
	opListxattr
	opRemovexattr
	opCopyRange
)

// callRequest is struct request of callserver.c, then its strings.
type callRequest struct {
	ID, Op uint32
	Arg    [5]int64
	Len    [3]uint32
	_      uint32
}

// callReplyHeader is struct reply of callserver.c.
type callReplyHeader struct {
	ID  uint32
	Err int32
	Ret int64
	Len uint32
	_   uint32
}

// callTimeout bounds one call; none of the suite's takes more than a
// fraction of a second.
const callTimeout = time.Minute

type callReply struct {
	ret  int64
	err  syscall.Errno
	data []byte
	gone error // the server died before it answered
}

// startCallServer runs the program prog (with environment env, in root
// chrooted when chroot is set) and returns the service; cleanup ends the
// program and fails the test if it did not exit cleanly.
func startCallServer(t testing.TB, prog string, env []string, root string, chroot string) *callServer {
	t.Helper()
	s := &callServer{root: root, log: &servicetest.Log{}, pending: map[uint32]chan callReply{}, exited: make(chan struct{})}
	args := []string{}
	if chroot != "" {
		args = append(args, chroot)
	}
	s.cmd = exec.Command(prog, args...)
	s.cmd.Env = env
	s.cmd.Stderr = s.log
	var err error
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go s.readReplies(bufio.NewReaderSize(stdout, 1<<20))
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("call server: %v; stderr:\n%s", err, s.log)
		}
	})
	return s
}

// readReplies hands each reply to the call waiting for it; at the end of
// the stream it fails every waiting call and later ones.
func (s *callServer) readReplies(r io.Reader) {
	err := func() error {
		for {
			var h callReplyHeader
			if err := binary.Read(r, binary.NativeEndian, &h); err != nil {
				return err
			}
			rep := callReply{ret: h.Ret, err: syscall.Errno(h.Err), data: make([]byte, h.Len)}
			if _, err := io.ReadFull(r, rep.data); err != nil {
				return err
			}
			s.mu.Lock()
			ch := s.pending[h.ID]
			delete(s.pending, h.ID)
			s.mu.Unlock()
			if ch == nil {
				return fmt.Errorf("reply to unknown request %d", h.ID)
			}
			ch <- rep
		}
	}()
	s.mu.Lock()
	s.gone = fmt.Errorf("call server stopped answering: %w", err)
	for id, ch := range s.pending {
		ch <- callReply{gone: s.gone}
		delete(s.pending, id)
	}
	s.mu.Unlock()
	close(s.exited)
}

// path is name as the program sees it.
func (s *callServer) path(name string) string { return path.Join(s.root, fs.Clean(name)) }

// call sends one request, with path p (or "" for a call on a handle), and
// waits for its reply. A failed call returns its errno inside an
// *os.PathError naming op and name.
func (s *callServer) call(op uint32, opName, name, p string, args [5]int64, str2 string, data []byte) (callReply, error) {
	ch := make(chan callReply, 1)
	s.mu.Lock()
	if s.gone != nil {
		s.mu.Unlock()
		return callReply{}, &os.PathError{Op: opName, Path: name, Err: s.gone}
	}
	s.nextID++
	id := s.nextID
	s.pending[id] = ch
	s.mu.Unlock()
	q := callRequest{ID: id, Op: op, Arg: args, Len: [3]uint32{uint32(len(p)), uint32(len(str2)), uint32(len(data))}}
	buf := make([]byte, 0, binary.Size(q)+len(p)+len(str2)+len(data))
	buf, _ = binary.Append(buf, binary.NativeEndian, &q)
	buf = append(append(append(buf, p...), str2...), data...)
	s.writeMu.Lock()
	_, werr := s.stdin.Write(buf)
	s.writeMu.Unlock()
	if werr != nil {
		s.mu.Lock()
		delete(s.pending, id)
		s.mu.Unlock()
		return callReply{}, &os.PathError{Op: opName, Path: name, Err: fmt.Errorf("call server: %w", werr)}
	}
	var rep callReply
	select {
	case rep = <-ch:
	case <-time.After(callTimeout):
		// A hung call must not hang the test: the kill ends the reply
		// stream, which fails every other waiting call too.
		s.cmd.Process.Kill()
		<-ch
		return callReply{}, &os.PathError{Op: opName, Path: name, Err: fmt.Errorf("no reply in %v: call server killed", callTimeout)}
	}
	switch {
	case rep.gone != nil:
		return rep, &os.PathError{Op: opName, Path: name, Err: rep.gone}
	case rep.err != 0:
		return rep, &os.PathError{Op: opName, Path: name, Err: rep.err}
	}
	return rep, nil
}

// Close ends the program (end of input) and waits for it.
func (s *callServer) Close() error {
	s.writeMu.Lock()
	err := s.stdin.Close()
	s.writeMu.Unlock()
	if err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
	}
	return s.cmd.Wait()
}

func (s *callServer) Open(_ context.Context, name string, flags int, mode uint32) (fs.File, error) {
	rep, err := s.call(opOpen, "open", name, s.path(name), [5]int64{int64(flags), int64(mode)}, "", nil)
	if err != nil {
		return nil, err
	}
	return &callFile{s: s, fd: rep.ret, name: name}, nil
}

func (s *callServer) stat(op uint32, opName, name string) (fs.Stat, error) {
	rep, err := s.call(op, opName, name, s.path(name), [5]int64{}, "", nil)
	if err != nil {
		return fs.Stat{}, err
	}
	return decodeStat(rep.data)
}

func (s *callServer) Stat(_ context.Context, name string) (fs.Stat, error) {
	return s.stat(opStat, "stat", name)
}

func (s *callServer) Lstat(_ context.Context, name string) (fs.Stat, error) {
	return s.stat(opLstat, "lstat", name)
}

// simple makes a call whose only result is its error.
func (s *callServer) simple(op uint32, opName, name string, args [5]int64, str2 string) error {
	_, err := s.call(op, opName, name, s.path(name), args, str2, nil)
	return err
}

func (s *callServer) Mkdir(_ context.Context, name string, mode uint32) error {
	return s.simple(opMkdir, "mkdir", name, [5]int64{int64(mode)}, "")
}

func (s *callServer) Rmdir(_ context.Context, name string) error {
	return s.simple(opRmdir, "rmdir", name, [5]int64{}, "")
}

func (s *callServer) Unlink(_ context.Context, name string) error {
	return s.simple(opUnlink, "unlink", name, [5]int64{}, "")
}

func (s *callServer) Rename(_ context.Context, oldname, newname string, flags uint32) error {
	return s.simple(opRename, "rename", oldname, [5]int64{int64(flags)}, s.path(newname))
}

func (s *callServer) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	rep, err := s.call(opOpendir, "opendir", name, s.path(name), [5]int64{}, "", nil)
	if err != nil {
		return nil, err
	}
	return &callDir{s: s, handle: rep.ret, name: name}, nil
}

func (s *callServer) Symlink(_ context.Context, target, linkname string) error {
	return s.simple(opSymlink, "symlink", linkname, [5]int64{}, target)
}

func (s *callServer) Readlink(_ context.Context, name string) (string, error) {
	rep, err := s.call(opReadlink, "readlink", name, s.path(name), [5]int64{}, "", nil)
	return string(rep.data), err
}

func (s *callServer) Link(_ context.Context, oldname, newname string) error {
	return s.simple(opLink, "link", oldname, [5]int64{}, s.path(newname))
}

func (s *callServer) Chmod(_ context.Context, name string, mode uint32) error {
	return s.simple(opChmod, "chmod", name, [5]int64{int64(mode)}, "")
}

func (s *callServer) Chown(_ context.Context, name string, uid, gid int, flags int) error {
	return s.simple(opChown, "chown", name, [5]int64{int64(uint32(uid)), int64(uint32(gid)), int64(flags)}, "")
}

func (s *callServer) Utimens(_ context.Context, name string, times [2]fs.Timespec, flags int) error {
	args := [5]int64{times[0].Sec, times[0].Nsec, times[1].Sec, times[1].Nsec, int64(flags)}
	return s.simple(opUtimens, "utimens", name, args, "")
}

func (s *callServer) Truncate(_ context.Context, name string, size int64) error {
	return s.simple(opTruncate, "truncate", name, [5]int64{size}, "")
}

func (s *callServer) Access(_ context.Context, name string, mode uint32) error {
	return s.simple(opAccess, "access", name, [5]int64{int64(mode)}, "")
}

func (s *callServer) Statfs(_ context.Context, name string) (fs.Statfs, error) {
	rep, err := s.call(opStatfs, "statfs", name, s.path(name), [5]int64{}, "", nil)
	if err != nil {
		return fs.Statfs{}, err
	}
	var w [9]int64
	if err := decodeInts(rep.data, w[:]); err != nil {
		return fs.Statfs{}, err
	}
	return fs.Statfs{Type: w[0], Bsize: w[1], Blocks: uint64(w[2]), Bfree: uint64(w[3]), Bavail: uint64(w[4]),
		Files: uint64(w[5]), Ffree: uint64(w[6]), Namelen: w[7], Frsize: w[8]}, nil
}

func (s *callServer) Getxattr(_ context.Context, name, attr string, dest []byte) (int, error) {
	rep, err := s.call(opGetxattr, "getxattr", name, s.path(name), [5]int64{int64(len(dest))}, attr, nil)
	if err != nil {
		return 0, err
	}
	return int(rep.ret), copyOut(dest, rep.data)
}

func (s *callServer) Setxattr(_ context.Context, name, attr string, data []byte, flags int) error {
	_, err := s.call(opSetxattr, "setxattr", name, s.path(name), [5]int64{int64(flags)}, attr, data)
	return err
}

func (s *callServer) Listxattr(_ context.Context, name string, dest []byte) (int, error) {
	rep, err := s.call(opListxattr, "listxattr", name, s.path(name), [5]int64{int64(len(dest))}, "", nil)
	if err != nil {
		return 0, err
	}
	return int(rep.ret), copyOut(dest, rep.data)
}

func (s *callServer) Removexattr(_ context.Context, name, attr string) error {
	return s.simple(opRemovexattr, "removexattr", name, [5]int64{}, attr)
}

// copyOut copies what the program returned into the caller's buffer.
func copyOut(dest, data []byte) error {
	if len(data) > len(dest) {
		return fmt.Errorf("call server returned %d bytes for a %d-byte buffer", len(data), len(dest))
	}
	copy(dest, data)
	return nil
}

// callFile is an open file of the program: its fd.
type callFile struct {
	s    *callServer
	fd   int64
	name string
}

func (f *callFile) fdcall(op uint32, opName string, args [4]int64, data []byte) (callReply, error) {
	return f.s.call(op, opName, f.name, "", [5]int64{f.fd, args[0], args[1], args[2], args[3]}, "", data)
}

func (f *callFile) Pread(p []byte, off int64) (int, error) {
	rep, err := f.fdcall(opPread, "pread", [4]int64{int64(len(p)), off}, nil)
	if err != nil {
		return 0, err
	}
	return int(rep.ret), copyOut(p, rep.data)
}

func (f *callFile) Pwrite(p []byte, off int64) (int, error) {
	rep, err := f.fdcall(opPwrite, "pwrite", [4]int64{off}, p)
	return int(rep.ret), err
}

func (f *callFile) Stat() (fs.Stat, error) {
	rep, err := f.fdcall(opFstat, "fstat", [4]int64{}, nil)
	if err != nil {
		return fs.Stat{}, err
	}
	return decodeStat(rep.data)
}

func (f *callFile) Truncate(size int64) error {
	_, err := f.fdcall(opFtruncate, "ftruncate", [4]int64{size}, nil)
	return err
}

func (f *callFile) Sync(datasync bool) error {
	var d int64
	if datasync {
		d = 1
	}
	_, err := f.fdcall(opFsync, "fsync", [4]int64{d}, nil)
	return err
}

func (f *callFile) Allocate(mode uint32, off, length int64) error {
	_, err := f.fdcall(opFallocate, "fallocate", [4]int64{int64(mode), off, length}, nil)
	return err
}

func (f *callFile) Close() error {
	_, err := f.fdcall(opClose, "close", [4]int64{}, nil)
	return err
}

func (f *callFile) CopyFileRange(srcOff int64, dst fs.File, dstOff int64, n int64) (int64, error) {
	d, ok := dst.(*callFile)
	if !ok || d.s != f.s {
		return 0, &os.PathError{Op: "copy_file_range", Path: f.name, Err: syscall.EXDEV}
	}
	rep, err := f.fdcall(opCopyRange, "copy_file_range", [4]int64{srcOff, d.fd, dstOff, n}, nil)
	return rep.ret, err
}

// callDir is a directory stream of the program.
type callDir struct {
	s      *callServer
	handle int64
	name   string
}

func (d *callDir) ReadDir(n int) ([]fs.Dirent, error) {
	rep, err := d.s.call(opReaddir, "readdir", d.name, "", [5]int64{d.handle, int64(n)}, "", nil)
	if err != nil {
		return nil, err
	}
	ents := make([]fs.Dirent, 0, rep.ret)
	for b := rep.data; len(b) > 0; {
		if len(b) < 16 {
			return nil, fmt.Errorf("readdir %s: truncated entry", d.name)
		}
		nl := int(binary.NativeEndian.Uint16(b[10:]))
		if len(b) < 16+nl {
			return nil, fmt.Errorf("readdir %s: truncated name", d.name)
		}
		ents = append(ents, fs.Dirent{Ino: binary.NativeEndian.Uint64(b), Type: b[8], Name: string(b[16 : 16+nl])})
		b = b[16+nl:]
	}
	if int64(len(ents)) != rep.ret {
		return nil, fmt.Errorf("readdir %s: %d entries decoded, the program counted %d", d.name, len(ents), rep.ret)
	}
	return ents, nil
}

func (d *callDir) Close() error {
	_, err := d.s.call(opClosedir, "closedir", d.name, "", [5]int64{d.handle}, "", nil)
	return err
}

// decodeInts fills w from native-endian int64s.
func decodeInts(b []byte, w []int64) error {
	if len(b) != 8*len(w) {
		return fmt.Errorf("call server sent %d bytes, want %d", len(b), 8*len(w))
	}
	for i := range w {
		w[i] = int64(binary.NativeEndian.Uint64(b[8*i:]))
	}
	return nil
}

// decodeStat reads struct wire_stat of callserver.c.
func decodeStat(b []byte) (fs.Stat, error) {
	var w [16]int64
	if err := decodeInts(b, w[:]); err != nil {
		return fs.Stat{}, err
	}
	return fs.Stat{Dev: uint64(w[0]), Ino: uint64(w[1]), Mode: uint32(w[2]), Nlink: uint32(w[3]),
		Uid: uint32(w[4]), Gid: uint32(w[5]), Rdev: uint64(w[6]), Size: w[7], Blksize: w[8], Blocks: w[9],
		Atime: fs.Timespec{Sec: w[10], Nsec: w[11]}, Mtime: fs.Timespec{Sec: w[12], Nsec: w[13]},
		Ctime: fs.Timespec{Sec: w[14], Nsec: w[15]}}, nil
}
