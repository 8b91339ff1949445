package service

import (
	"crypto/rand"
	"encoding/binary"
	"syscall"
	"time"

	"polytropon/fs/wire"
)

// client is one registered process (or a fork slot waiting for its child).
// Guarded by Service.mu.
type client struct {
	slot    uint32
	pid     int
	state   uint32
	gen     uint32
	token   uint64    // fork token while ClientForkPending
	parent  int       // pid of the forking parent while ClientForkPending
	created time.Time // for expiring unclaimed fork slots
	holds   map[uint32]int
}

// forkClaimTimeout bounds how long a fork slot whose child pid is unknown
// waits for its child (the parent committed nothing and may be gone).
const forkClaimTimeout = 30 * time.Second

// clientOf validates the client named by a request: a slot in range, in
// use, owned by the pid that holds the buffer.
func (s *Service) clientOf(req *wire.Request) (*client, syscall.Errno) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.clientOfLocked(req)
}

// Preconditions: s.mu held.
func (s *Service) clientOfLocked(req *wire.Request) (*client, syscall.Errno) {
	if req.Client >= uint32(len(s.clients)) {
		return nil, syscall.EBADSLT
	}
	c := s.clients[req.Client]
	if c == nil || c.pid <= 0 || c.pid != req.Owner ||
		(c.state != wire.ClientActive && c.state != wire.ClientExecSaved) {
		return nil, syscall.EBADSLT
	}
	return c, 0
}

// publishLocked mirrors c's header words into its client-table slot.
// Preconditions: s.mu held for writing.
func (s *Service) publishLocked(c *client) {
	s.w.SetClient(c.slot, wire.ClientInfo{State: c.state, Pid: c.pid, Gen: c.gen, Token: c.token})
}

// Preconditions: s.mu held for writing.
func (s *Service) newClientLocked(pid int, state uint32) (*client, syscall.Errno) {
	for i, c := range s.clients {
		if c == nil {
			var gen uint32
			if r, err := s.w.Client(uint32(i)); err == nil {
				gen = r.Gen + 1
			}
			nc := &client{slot: uint32(i), pid: pid, state: state, gen: gen, created: time.Now(), holds: map[uint32]int{}}
			s.clients[i] = nc
			return nc, 0
		}
	}
	return nil, syscall.EMFILE
}

// register serves CallRegister. A process that saved its state before exec
// gets its slot back (EXEC_RESTORE then returns the blob); a child with a
// fork token claims the slot its parent prepared; anyone else gets a new
// slot.
func (s *Service) register(req *wire.Request) (int64, syscall.Errno) {
	pid := req.Owner
	if pid <= 0 || !processAlive(pid) {
		return 0, syscall.ESRCH
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if tok := req.Args[0]; tok != 0 {
		for _, c := range s.clients {
			if c != nil && c.state == wire.ClientForkPending && c.token == tok && (c.pid == 0 || c.pid == pid) {
				c.pid, c.state, c.token = pid, wire.ClientActive, 0
				s.publishLocked(c)
				return int64(c.slot), 0
			}
		}
		return 0, syscall.ESRCH
	}
	for _, c := range s.clients {
		if c != nil && c.state == wire.ClientExecSaved && c.pid == pid {
			c.state = wire.ClientActive
			s.publishLocked(c)
			return int64(c.slot), 0
		}
	}
	c, e := s.newClientLocked(pid, wire.ClientActive)
	if e != 0 {
		return 0, e
	}
	s.w.SetExecBlob(c.slot, nil)
	s.publishLocked(c)
	return int64(c.slot), 0
}

// dropClientLocked releases every reference of c and frees its slot; it
// returns the files to close.
// Preconditions: s.mu held for writing.
func (s *Service) dropClientLocked(c *client) []*openFile {
	var closeList []*openFile
	for idx, n := range c.holds {
		if f := s.files[idx]; f != nil {
			if cf := s.dropRefsLocked(c, f, n); cf != nil {
				closeList = append(closeList, cf)
			}
		}
	}
	s.clients[c.slot] = nil
	s.w.SetClient(c.slot, wire.ClientInfo{State: wire.ClientFree, Gen: c.gen})
	if c.pid > 0 && !s.pidHasClientLocked(c.pid) {
		s.locks.dropProcess(nil, c.pid) // POSIX locks end with their process
	}
	return closeList
}

// pidHasClientLocked reports whether a client slot still belongs to pid.
// Preconditions: s.mu held.
func (s *Service) pidHasClientLocked(pid int) bool {
	for _, c := range s.clients {
		if c != nil && c.pid == pid {
			return true
		}
	}
	return false
}

// unregister serves CallUnregister.
func (s *Service) unregister(c *client) {
	s.mu.Lock()
	files := s.dropClientLocked(c)
	s.mu.Unlock()
	s.closeFiles(files...)
}

// fork serves CallFork: prepare copies the parent's references into a new
// pending slot and returns its token; commit records the child's pid (so
// the reaper can collect the slot if the child dies before registering);
// abort drops the slot (fork failed).
func (s *Service) fork(c *client, req *wire.Request) (int64, syscall.Errno) {
	s.mu.Lock()
	switch req.Args[0] {
	case wire.ForkPrepare:
		nc, e := s.newClientLocked(0, wire.ClientForkPending)
		if e != 0 {
			s.mu.Unlock()
			return 0, e
		}
		var tb [8]byte
		rand.Read(tb[:])
		nc.token = binary.NativeEndian.Uint64(tb[:])&0x7fffffffffffffff | 1
		nc.parent = c.pid
		for idx, n := range c.holds {
			if f := s.files[idx]; f != nil {
				f.refs += n
				nc.holds[idx] = n
			}
		}
		s.publishLocked(nc)
		s.mu.Unlock()
		return int64(nc.token), 0
	case wire.ForkCommit, wire.ForkAbort:
		tok, child := req.Args[1], int(int32(req.Args[2]))
		for _, p := range s.clients {
			if p == nil || p.state != wire.ClientForkPending || p.token != tok || p.parent != c.pid {
				continue
			}
			if req.Args[0] == wire.ForkAbort {
				files := s.dropClientLocked(p)
				s.mu.Unlock()
				s.closeFiles(files...)
				return 0, 0
			}
			if child <= 0 {
				s.mu.Unlock()
				return 0, syscall.EINVAL
			}
			p.pid = child
			s.publishLocked(p)
			s.mu.Unlock()
			return 0, 0
		}
		s.mu.Unlock()
		return 0, syscall.ESRCH
	}
	s.mu.Unlock()
	return 0, syscall.EINVAL
}

// execSave serves CallExecSave: the blob is checked, kept in the client's
// slot, and the slot waits for the new image's REGISTER.
func (s *Service) execSave(c *client, blob []byte) (int64, syscall.Errno) {
	if len(blob) > wire.ExecBlobMax {
		return 0, syscall.E2BIG
	}
	if _, err := wire.UnmarshalExec(blob); err != nil {
		return 0, syscall.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.w.SetExecBlob(c.slot, blob); err != nil {
		return 0, syscall.EINVAL
	}
	c.state = wire.ClientExecSaved
	s.publishLocked(c)
	return 0, 0
}

// execRestore serves CallExecRestore: copies the saved blob to out and clears
// it.
func (s *Service) execRestore(c *client, out []byte) (int64, syscall.Errno) {
	s.mu.Lock()
	defer s.mu.Unlock()
	blob, err := s.w.ExecBlob(c.slot)
	if err != nil {
		return 0, syscall.EINVAL
	}
	if len(blob) > len(out) {
		return 0, syscall.ERANGE
	}
	copy(out, blob)
	s.w.SetExecBlob(c.slot, nil)
	return int64(len(blob)), 0
}

// reap drops the clients whose process died (and unclaimed fork slots of
// dead parents) and frees the request buffers dead processes held.
func (s *Service) reap() {
	s.reapClients()
	s.reclaimBuffers()
}

// gone reports whether c's process died or, for a fork slot not yet
// claimed, whether its parent died or the child took too long to claim it.
func (c *client) gone() bool {
	switch {
	case c.pid > 0:
		return !processAlive(c.pid)
	case c.state == wire.ClientForkPending:
		return !processAlive(c.parent) || time.Since(c.created) > forkClaimTimeout
	}
	return false
}

// reapClients drops the clients whose process died and unclaimed fork
// slots of dead parents; it returns how many it dropped. Housekeeping and
// lock conflicts call it.
func (s *Service) reapClients() int {
	s.reapMu.Lock()
	defer s.reapMu.Unlock()
	var dead []*client
	s.mu.RLock()
	for _, c := range s.clients {
		if c == nil {
			continue
		}
		if c.gone() {
			dead = append(dead, c)
		}
	}
	s.mu.RUnlock()
	var files []*openFile
	if len(dead) > 0 {
		s.mu.Lock()
		for _, c := range dead {
			if s.clients[c.slot] == c {
				s.log.Printf("client pid %d (slot %d) is gone: dropping its %d open files", c.pid, c.slot, len(c.holds))
				files = append(files, s.dropClientLocked(c)...)
			}
		}
		s.mu.Unlock()
		s.closeFiles(files...)
	}
	return len(dead)
}

// reclaimBuffers frees buffers held or parked by dead processes. A buffer being
// served (Busy, not yet Done) is left for the next round; a submitted one
// is first moved back to Idle so that its queue item, if still queued, is
// dropped.
func (s *Service) reclaimBuffers() {
	alive := map[int]bool{}
	for i := uint32(0); i < s.w.Layout.NumBuffers; i++ {
		b, err := s.w.Buffer(i)
		if err != nil {
			return
		}
		owner := b.Owner()
		if owner == 0 {
			continue
		}
		pid := owner
		if pid < 0 { // parked
			pid = -pid
		}
		ok, seen := alive[pid]
		if !seen {
			ok = pid > 0 && processAlive(pid)
			alive[pid] = ok
		}
		if ok {
			continue
		}
		switch st := b.State(); {
		case st == wire.StateBusy && !b.Completed():
			continue // being served: the next round frees it
		case st == wire.StateSubmitted:
			if !b.CASState(st, wire.StateIdle) {
				continue
			}
		}
		b.SetState(wire.StateIdle)
		b.ResetCompletion()
		b.Free(owner)
	}
}
