package service

import (
	"sync"
	"sync/atomic"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// openFile is a service open file, shared by every client that holds a
// reference to it.
type openFile struct {
	index, gen uint32
	inst       *instance
	file       fs.File
	name       string // cleaned name inside the instance
	flags      int
	refs       int // guarded by Service.mu

	// ioMu is held for reading by every call using file or dir and for
	// writing by the final close, so nothing uses a closed handle.
	ioMu sync.RWMutex

	// locked is set once the file took an OFD or flock lock, so its last
	// close releases them.
	locked atomic.Bool

	// mu guards the stream state below (READ/WRITE/LSEEK/GETDENTS) and
	// the identity the lock table keys the file by.
	mu         sync.Mutex
	identKnown bool
	dev, ino   uint64
	off        int64
	dir        fs.Dir
	pending    []fs.Dirent
	dirPos     int64
	dirDone    bool
	dots       int // "." and ".." listed so far (GetdentsDots)
}

func (f *openFile) close() {
	f.ioMu.Lock()
	defer f.ioMu.Unlock()
	f.mu.Lock()
	if f.dir != nil {
		f.dir.Close()
		f.dir = nil
	}
	f.mu.Unlock()
	f.file.Close()
}

// addFileLocked enters a new open file held once by c and returns its sfd.
// Preconditions: s.mu held for writing.
func (s *Service) addFileLocked(c *client, in *instance, file fs.File, name string, flags int) (uint64, syscall.Errno) {
	var idx uint32
	if n := len(s.freeFiles); n > 0 {
		idx = s.freeFiles[n-1]
		s.freeFiles = s.freeFiles[:n-1]
	} else {
		if len(s.files) >= s.cfg.MaxFiles {
			return 0, syscall.ENFILE
		}
		idx = uint32(len(s.files))
		s.files = append(s.files, nil)
		s.fileGen = append(s.fileGen, 0)
	}
	s.fileGen[idx] = (s.fileGen[idx] + 1) & 0x7fffffff
	if s.fileGen[idx] == 0 {
		s.fileGen[idx] = 1
	}
	f := &openFile{index: idx, gen: s.fileGen[idx], inst: in, file: file, name: name, flags: flags, refs: 1}
	s.files[idx] = f
	s.openCount++
	in.files++
	c.holds[idx]++
	return wire.MakeSfd(idx, f.gen), 0
}

// fileLocked finds the open file of sfd that c holds a reference to.
// Preconditions: s.mu held.
func (s *Service) fileLocked(c *client, sfd uint64) (*openFile, syscall.Errno) {
	idx, gen := wire.SplitSfd(sfd)
	if sfd>>63 != 0 || idx >= uint32(len(s.files)) {
		return nil, syscall.EBADF
	}
	f := s.files[idx]
	if f == nil || f.gen != gen || c.holds[idx] <= 0 {
		return nil, syscall.EBADF
	}
	return f, 0
}

// useFile looks sfd up for c and returns it with ioMu held for reading;
// the caller must call f.ioMu.RUnlock.
func (s *Service) useFile(c *client, sfd uint64) (*openFile, syscall.Errno) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, e := s.fileLocked(c, sfd)
	if e != 0 {
		return nil, e
	}
	f.ioMu.RLock()
	return f, 0
}

// dropRefsLocked removes n references of c to file f and returns f when it
// must be closed (the caller closes it after releasing s.mu).
// Preconditions: s.mu held for writing.
func (s *Service) dropRefsLocked(c *client, f *openFile, n int) *openFile {
	if c != nil {
		if c.holds[f.index] -= n; c.holds[f.index] <= 0 {
			delete(c.holds, f.index)
		}
	}
	if f.refs -= n; f.refs > 0 {
		return nil
	}
	s.files[f.index] = nil
	s.freeFiles = append(s.freeFiles, f.index)
	s.openCount--
	return f
}

// closeFiles closes files dropped by dropRefsLocked, then lets their
// instances close if they were unmounted and are now unused.
// Preconditions: s.mu not held.
func (s *Service) closeFiles(files ...*openFile) {
	any := false
	for _, f := range files {
		if f != nil {
			if f.locked.Load() {
				s.locks.dropFile(f)
			}
			f.close()
			any = true
		}
	}
	if !any {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range files {
		if f != nil {
			f.inst.files--
			s.maybeCloseLocked(f.inst)
		}
	}
}
