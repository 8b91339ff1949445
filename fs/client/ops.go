package client

import (
	"runtime"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
	xcopy "polytropon/ipc/copy"
)

// The primitives below speak to the service in terms of (instance, name)
// and service fds; the fs.Service view (fs.go) and the fd API (fd.go) sit
// on top.

// pathCall runs a path call without output.
func (c *Client) pathCall(call, inst uint32, name string, args ...uint64) (int64, error) {
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	cl.req.Call, cl.req.Instance = call, inst
	copy(cl.req.Args[:], args)
	if err := cl.path(name); err != nil {
		return 0, err
	}
	return cl.do()
}

// pathCall2 runs a call with two names (rename, link, symlink, xattr names).
func (c *Client) pathCall2(call, inst uint32, name, name2 string, data []byte, args ...uint64) (int64, error) {
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	cl.req.Call, cl.req.Instance = call, inst
	copy(cl.req.Args[:], args)
	if err := cl.path(name); err != nil {
		return 0, err
	}
	if err := cl.path2(name2); err != nil {
		return 0, err
	}
	if data != nil {
		if cl.req.Data, err = cl.put(data); err != nil {
			return 0, syscall.E2BIG
		}
	}
	return cl.do()
}

// pathOut runs a path call whose output (at most max bytes) is copied to a
// new slice.
func (c *Client) pathOut(call, inst uint32, name, name2 string, max int, args ...uint64) ([]byte, error) {
	cl, err := c.begin()
	if err != nil {
		return nil, err
	}
	defer cl.end()
	cl.req.Call, cl.req.Instance = call, inst
	copy(cl.req.Args[:], args)
	if err := cl.path(name); err != nil {
		return nil, err
	}
	if name2 != "" {
		if err := cl.path2(name2); err != nil {
			return nil, err
		}
	}
	out := cl.outRest(max)
	n, err := cl.do()
	if err != nil {
		return nil, err
	}
	if n > int64(out.Len) {
		return nil, syscall.EIO
	}
	return append([]byte(nil), cl.bytes(out)[:n]...), nil
}

func (c *Client) openSfd(inst uint32, name string, flags int, mode uint32) (uint64, error) {
	sfd, err := c.pathCall(wire.CallOpen, inst, name, uint64(uint32(int32(flags))), uint64(mode))
	return uint64(sfd), err
}

func (c *Client) statPath(inst uint32, name string, lstat bool) (fs.Stat, error) {
	cl, err := c.begin()
	if err != nil {
		return fs.Stat{}, err
	}
	defer cl.end()
	cl.req.Call, cl.req.Instance = wire.CallStat, inst
	if lstat {
		cl.req.Call = wire.CallLstat
	}
	if err := cl.path(name); err != nil {
		return fs.Stat{}, err
	}
	out := cl.outRest(int(wire.StatSize))
	n, err := cl.do()
	if err != nil {
		return fs.Stat{}, err
	}
	if n != int64(wire.StatSize) || out.Len < uint32(wire.StatSize) {
		return fs.Stat{}, syscall.EIO
	}
	return wire.GetStat(cl.bytes(out)), nil
}

// fdCall runs a service-fd call without data.
func (c *Client) fdCall(call uint32, sfd uint64, args ...uint64) (int64, error) {
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	cl.req.Call = call
	cl.req.Args[0] = sfd
	copy(cl.req.Args[1:], args)
	return cl.do()
}

// fdOut runs a service-fd call with output.
func (c *Client) fdOut(call uint32, sfd uint64, max int) ([]byte, error) {
	cl, err := c.begin()
	if err != nil {
		return nil, err
	}
	defer cl.end()
	cl.req.Call = call
	cl.req.Args[0] = sfd
	out := cl.outRest(max)
	n, err := cl.do()
	if err != nil {
		return nil, err
	}
	if n > int64(out.Len) {
		return nil, syscall.EIO
	}
	return append([]byte(nil), cl.bytes(out)[:n]...), nil
}

func (c *Client) fstat(sfd uint64) (fs.Stat, error) {
	cl, err := c.begin()
	if err != nil {
		return fs.Stat{}, err
	}
	defer cl.end()
	cl.req.Call = wire.CallFstat
	cl.req.Args[0] = sfd
	out := cl.outRest(int(wire.StatSize))
	n, err := cl.do()
	if err != nil {
		return fs.Stat{}, err
	}
	if n != int64(wire.StatSize) || out.Len < uint32(wire.StatSize) {
		return fs.Stat{}, syscall.EIO
	}
	return wire.GetStat(cl.bytes(out)), nil
}

// copyIn / copyOut move data between the caller and the data area with
// the configured method (SMO: non-temporal stores).
func (c *Client) copyIn(dst, src []byte) {
	if c.copy == wire.CopySMO {
		xcopy.NonTemporal(dst, src)
		return
	}
	copy(dst, src)
}

// emptyIO is the outcome of a zero-length transfer: EINVAL for a negative
// offset of a positional call, as pread(2) and pwrite(2) report.
func emptyIO(positional bool, off int64) error {
	if positional && off < 0 {
		return syscall.EINVAL
	}
	return nil
}

// cma moves all of p in one request: the service copies straight from or
// to this process's memory (cross-memory attach), so p stays pinned
// meanwhile.
func (cl *call) cma(callNo uint32, sfd uint64, p []byte, off int64) (int, error) {
	var pin runtime.Pinner
	pin.Pin(&p[0])
	defer pin.Unpin()
	cl.req.Call, cl.req.Flags = callNo, wire.FlagCMA
	cl.req.Args = [wire.NumArgs]uint64{sfd, uint64(len(p)), uint64(off), uint64(xcopy.Addr(p))}
	n, err := cl.do()
	return int(n), err
}

// readAt reads into p: call is CallPread (at off) or CallRead (at the
// file offset). Large reads go in chunks of the data area; a short chunk
// ends the read.
func (c *Client) readAt(call uint32, sfd uint64, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, emptyIO(call == wire.CallPread, off)
	}
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	if c.copy == wire.CopyCMA {
		return cl.cma(call, sfd, p, off)
	}
	done := 0
	for done < len(p) {
		n := min(len(p)-done, c.dataMax)
		cl.req = wire.Request{Call: call, Client: c.slot, Uid: c.uid, Gid: c.gid}
		cl.req.Args[0], cl.req.Args[wire.LenArg], cl.req.Args[wire.OffArg] = sfd, uint64(n), uint64(off+int64(done))
		cl.at = 0
		out := cl.outRest(n)
		got, err := cl.do()
		if err != nil {
			return done, err
		}
		if got > int64(n) {
			return done, syscall.EIO
		}
		c.copyIn(p[done:done+int(got)], cl.bytes(out)[:got])
		done += int(got)
		if int(got) < n {
			break
		}
	}
	return done, nil
}

// writeAt writes p: CallPwrite at off or CallWrite at the file offset.
func (c *Client) writeAt(call uint32, sfd uint64, p []byte, off int64) (int, error) {
	if len(p) == 0 {
		return 0, emptyIO(call == wire.CallPwrite, off)
	}
	cl, err := c.begin()
	if err != nil {
		return 0, err
	}
	defer cl.end()
	if c.copy == wire.CopyCMA {
		return cl.cma(call, sfd, p, off)
	}
	done := 0
	for done < len(p) {
		n := min(len(p)-done, c.dataMax)
		cl.req = wire.Request{Call: call, Client: c.slot, Uid: c.uid, Gid: c.gid}
		cl.req.Args[0], cl.req.Args[wire.LenArg], cl.req.Args[wire.OffArg] = sfd, uint64(n), uint64(off+int64(done))
		dst, _ := cl.b.Data.Slice(0, uint64(n))
		c.copyIn(dst, p[done:done+n])
		cl.req.Data = wire.Range{Off: 0, Len: uint32(n)}
		put, err := cl.do()
		if err != nil {
			return done, err
		}
		done += int(put)
		if int(put) < n {
			return done, syscall.EIO
		}
	}
	return done, nil
}

// getdents returns one batch of entries of a directory sfd (empty at the
// end).
func (c *Client) getdents(sfd uint64) ([]fs.Dirent, error) {
	b, err := c.fdOut(wire.CallGetdents, sfd, 64<<10)
	if err != nil {
		return nil, err
	}
	ents, err := wire.ParseDirents(b)
	if err != nil {
		return nil, syscall.EIO
	}
	return ents, nil
}
