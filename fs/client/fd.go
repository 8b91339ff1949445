package client

import (
	"fmt"
	"os"
	"path"
	"sort"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// The fd API mirrors what the preload library does for an application:
// library fds (>= wire.LibFdBase) that name service fds, READ/WRITE at the
// service-side offset shared by every holder, dup, and the process calls.

// OpenFd opens path (relative to the working directory) and returns a
// library fd. O_CLOEXEC is kept in the library (it decides what survives exec).
func (c *Client) OpenFd(p string, flags int, mode uint32) (int, error) {
	c.mu.Lock()
	abs := c.absPathLocked(p)
	inst, rel, err := c.resolveLocked(abs)
	c.mu.Unlock()
	if err != nil {
		return -1, err
	}
	sfd, err := c.openSfd(inst, rel, flags&^syscall.O_CLOEXEC, mode)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: p, Err: err}
	}
	return c.installFd(sfd, flags), nil
}

func (c *Client) installFd(sfd uint64, flags int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	fd := c.nextFd
	for c.fds[fd] != nil {
		fd++
	}
	c.nextFd = fd + 1
	c.fds[fd] = &libFile{sfd: sfd, flags: flags}
	return fd
}

func (c *Client) lookup(fd int) (*libFile, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fds[fd]
	if f == nil {
		return nil, syscall.EBADF
	}
	return f, nil
}

// IsOurs reports whether fd is a library fd of this client.
func (c *Client) IsOurs(fd int) bool {
	_, err := c.lookup(fd)
	return err == nil
}

// CloseFd closes a library fd (the service drops one reference).
func (c *Client) CloseFd(fd int) error {
	c.mu.Lock()
	f := c.fds[fd]
	delete(c.fds, fd)
	if fd < c.nextFd {
		c.nextFd = max(fd, wire.LibFdBase)
	}
	c.mu.Unlock()
	if f == nil {
		return syscall.EBADF
	}
	_, err := c.fdCall(wire.CallClose, f.sfd)
	return err
}

// Dup returns a new library fd for the same service open file (shared
// offset), like dup(2).
func (c *Client) Dup(fd int) (int, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return -1, err
	}
	if _, err := c.fdCall(wire.CallDup, f.sfd); err != nil {
		return -1, err
	}
	return c.installFd(f.sfd, f.flags&^syscall.O_CLOEXEC), nil
}

// ReadFd reads at the file offset, which the service advances.
func (c *Client) ReadFd(fd int, p []byte) (int, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return 0, err
	}
	return c.readAt(wire.CallRead, f.sfd, p, 0)
}

// WriteFd writes at the file offset (at the end with O_APPEND).
func (c *Client) WriteFd(fd int, p []byte) (int, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return 0, err
	}
	return c.writeAt(wire.CallWrite, f.sfd, p, 0)
}

// PreadFd reads at off.
func (c *Client) PreadFd(fd int, p []byte, off int64) (int, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return 0, err
	}
	return c.readAt(wire.CallPread, f.sfd, p, off)
}

// PwriteFd writes at off.
func (c *Client) PwriteFd(fd int, p []byte, off int64) (int, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return 0, err
	}
	return c.writeAt(wire.CallPwrite, f.sfd, p, off)
}

// Lseek moves the shared file offset.
func (c *Client) Lseek(fd int, off int64, whence int) (int64, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return 0, err
	}
	return c.fdCall(wire.CallLseek, f.sfd, uint64(off), uint64(uint32(int32(whence))))
}

// FstatFd returns the attributes of fd's file.
func (c *Client) FstatFd(fd int) (fs.Stat, error) {
	f, err := c.lookup(fd)
	if err != nil {
		return fs.Stat{}, err
	}
	return c.fstat(f.sfd)
}

// Chdir changes the working directory (lexically; the service checks
// nothing until the next path call).
func (c *Client) Chdir(p string) error {
	c.mu.Lock()
	abs := c.absPathLocked(p)
	inst, rel, err := c.resolveLocked(abs)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	st, err := c.statPath(inst, rel, false)
	if err != nil {
		return &os.PathError{Op: "chdir", Path: p, Err: err}
	}
	if !st.IsDir() {
		return &os.PathError{Op: "chdir", Path: p, Err: syscall.ENOTDIR}
	}
	c.mu.Lock()
	c.cwd = abs
	c.mu.Unlock()
	return nil
}

// Getwd returns the working directory.
func (c *Client) Getwd() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cwd
}

// State is the library state that fork copies to the child and exec
// carries to the new image: the fd table, cwd, uid and gid.
func (c *Client) State() *wire.ExecState {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &wire.ExecState{Uid: c.uid, Gid: c.gid, Cwd: c.cwd}
	for fd, f := range c.fds {
		st.Fds = append(st.Fds, wire.ExecFdEntry{Fd: int32(fd), Flags: int32(f.flags), Sfd: f.sfd})
	}
	sort.Slice(st.Fds, func(i, j int) bool { return st.Fds[i].Fd < st.Fds[j].Fd })
	return st
}

// Adopt installs a state taken from the parent (after fork) or restored
// after exec. The service references behind the fds must already belong to
// this client (fork slot or exec slot).
func (c *Client) Adopt(st *wire.ExecState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range st.Fds {
		if f.Fd < wire.LibFdBase {
			return fmt.Errorf("client: adopted fd %d is below the library range", f.Fd)
		}
		c.fds[int(f.Fd)] = &libFile{sfd: f.Sfd, flags: int(f.Flags)}
		if int(f.Fd) >= c.nextFd {
			c.nextFd = int(f.Fd) + 1
		}
	}
	if st.Cwd != "" {
		c.cwd = path.Clean(st.Cwd)
	}
	c.uid, c.gid = st.Uid, st.Gid
	return nil
}

// ForkPrepare is called by the parent before fork: the service gives a
// pending slot references to every file this process holds and returns
// its token (passed to the child, e.g. through memory copied by fork).
func (c *Client) ForkPrepare() (uint64, error) {
	tok, err := c.simple(wire.Request{Call: wire.CallFork, Args: [wire.NumArgs]uint64{wire.ForkPrepare}}, "fork")
	return uint64(tok), err
}

// ForkCommit tells the service the child's pid (so the reaper can collect
// the slot if the child dies before it registers).
func (c *Client) ForkCommit(token uint64, childPid int) error {
	_, err := c.simple(wire.Request{Call: wire.CallFork, Args: [wire.NumArgs]uint64{wire.ForkCommit, token, uint64(childPid)}}, "fork")
	return err
}

// ForkAbort drops a prepared fork slot (fork failed).
func (c *Client) ForkAbort(token uint64) error {
	_, err := c.simple(wire.Request{Call: wire.CallFork, Args: [wire.NumArgs]uint64{wire.ForkAbort, token}}, "fork")
	return err
}

// SaveExec is called right before exec: close-on-exec fds are closed, the
// rest of the state is saved in the client slot of this pid. If exec
// fails, the process carries on with its slot.
func (c *Client) SaveExec() error {
	c.mu.Lock()
	var cloexec []int
	for fd, f := range c.fds {
		if f.flags&syscall.O_CLOEXEC != 0 {
			cloexec = append(cloexec, fd)
		}
	}
	c.mu.Unlock()
	for _, fd := range cloexec {
		c.CloseFd(fd)
	}
	blob, err := wire.MarshalExec(c.State())
	if err != nil {
		return err
	}
	cl, err := c.begin()
	if err != nil {
		return err
	}
	defer cl.end()
	cl.req.Call = wire.CallExecSave
	if cl.req.Data, err = cl.put(blob); err != nil {
		return err
	}
	_, err = cl.do()
	return err
}

func (c *Client) restoreExec() error {
	cl, err := c.begin()
	if err != nil {
		return err
	}
	cl.req.Call = wire.CallExecRestore
	out := cl.outRest(wire.ExecBlobMax)
	n, err := cl.do()
	var blob []byte
	if err == nil {
		blob = append([]byte(nil), cl.bytes(out)[:n]...)
	}
	cl.end()
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // nothing saved: a fresh process
	}
	st, err := wire.UnmarshalExec(blob)
	if err != nil {
		return err
	}
	return c.Adopt(st)
}
