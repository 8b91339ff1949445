package service

import (
	"fmt"
	"syscall"

	"polytropon/fs/wire"
)

var _ interface {
	Serve(*wire.Buffer, *wire.Request) int64
} = (*Service)(nil)

// Serve implements the back driver's Handler: it validates the request and
// runs it. Errors become -errno; nothing read from the descriptor is used
// before it is checked.
func (s *Service) Serve(b *wire.Buffer, req *wire.Request) int64 {
	ret, e, rejected := s.serve(b, req)
	if rejected {
		n := s.rejected.Add(1) // bad requests only: the formatting is off the fast path
		s.rejects.Add("rejected requests", fmt.Sprintf("#%d on buffer %d: %s from pid %d (client slot %d): %v",
			n, b.Index, wire.CallName(req.Call), req.Owner, req.Client, e))
	}
	s.answered.Add(1)
	if e != 0 {
		return -int64(e)
	}
	return ret
}

// serve routes a request by its call's class. rejected reports a request
// that broke the protocol (as opposed to a call that failed), for the log.
func (s *Service) serve(b *wire.Buffer, req *wire.Request) (ret int64, e syscall.Errno, rejected bool) {
	if req.Call >= wire.NumCalls || req.Flags&^wire.FlagCMA != 0 {
		return 0, syscall.EINVAL, true
	}
	class := classOf(req.Call)
	if class == sessionCall {
		return s.serveSession(b, req)
	}
	c, e := s.clientOf(req)
	if e != 0 {
		return 0, e, true
	}
	switch class {
	case controlCall:
		return s.serveControl(c, b, req)
	case fdCall:
		return s.serveFd(c, b, req)
	}
	return s.servePath(c, b, req)
}

// callClass sorts the calls by what serving them needs.
type callClass int

const (
	sessionCall callClass = iota // no client slot yet (handler_control.go)
	controlCall                  // the client's slot or the mount table (handler_control.go)
	fdCall                       // an open file the client holds (handler_fd.go)
	pathCall                     // a name in a mounted instance (handler_path.go)
)

func classOf(call uint32) callClass {
	switch call {
	case wire.CallNull, wire.CallRegister, wire.CallInfo:
		return sessionCall
	case wire.CallUnregister, wire.CallFork, wire.CallExecSave, wire.CallExecRestore,
		wire.CallMount, wire.CallUmount:
		return controlCall
	case wire.CallClose, wire.CallDup, wire.CallRead, wire.CallWrite, wire.CallPread,
		wire.CallPwrite, wire.CallLseek, wire.CallFstat, wire.CallFtruncate, wire.CallFsync,
		wire.CallFchmod, wire.CallFchown, wire.CallFutimens, wire.CallFstatfs,
		wire.CallFallocate, wire.CallGetdents, wire.CallLock:
		return fdCall
	}
	return pathCall
}
