package service

import (
	"syscall"

	"polytropon/fs/wire"
)

// The control calls: a process's client slot (register, fork, exec) and
// the mount table. The state they change lives in clients.go and
// instance.go; here the requests are decoded.

// serveSession serves the calls a process makes before it holds a slot.
func (s *Service) serveSession(b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	switch req.Call {
	case wire.CallRegister:
		r, e := s.register(req)
		return r, e, e != 0
	case wire.CallInfo:
		return outResult(b, req, int(wire.InfoSize), wire.PutInfo, func() (wire.Info, error) { return s.Info(), nil })
	case wire.CallNull: // a round trip
		return 0, 0, false
	}
	return 0, syscall.ENOSYS, true
}

// serveControl serves the control calls of registered client c.
func (s *Service) serveControl(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	switch req.Call {
	case wire.CallUnregister:
		s.unregister(c)
		return 0, 0, false
	case wire.CallFork:
		r, e := s.fork(c, req)
		return r, e, false
	case wire.CallExecSave:
		return s.serveExecSave(c, b, req)
	case wire.CallExecRestore:
		return s.serveExecRestore(c, b, req)
	case wire.CallMount:
		return s.serveMount(c, b, req)
	case wire.CallUmount:
		return s.serveUmount(b, req)
	}
	return 0, syscall.ENOSYS, true
}

// serveExecSave keeps the exec blob in Data; a malformed blob counts as a
// rejected request.
func (s *Service) serveExecSave(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	blob, e := b.Bytes(req.Data)
	if e != 0 {
		return 0, e, true
	}
	r, e := s.execSave(c, blob)
	return r, e, e == syscall.EINVAL
}

// serveExecRestore copies the saved exec blob to Out.
func (s *Service) serveExecRestore(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	out, e := b.Bytes(req.Out)
	if e != 0 {
		return 0, e, true
	}
	r, e := s.execRestore(c, out)
	return r, e, false
}

// serveMount mounts an instance and returns its id; why a mount failed is
// logged, the client gets only the errno.
func (s *Service) serveMount(c *client, b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
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
}

// serveUmount unmounts the instance at Path.
func (s *Service) serveUmount(b *wire.Buffer, req *wire.Request) (int64, syscall.Errno, bool) {
	p, e := b.PathAt(req.Path)
	if e != 0 {
		return 0, e, true
	}
	e, _ = s.umount(p)
	return 0, e, false
}
