package service

import (
	"context"
	"strings"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
)

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
	if e := f.openDirStream(); e != 0 {
		return 0, e, false
	}
	at := 0
	if req.Args[1]&wire.GetdentsDots != 0 {
		var full bool
		if at, full, e = f.putDots(out); e != 0 || full {
			return int64(at), e, false
		}
	}
	at, e = f.putEntries(out, at)
	return int64(at), e, false
}

// openDirStream opens f's directory stream on first use and after a
// rewind.
// Preconditions: f.mu held.
func (f *openFile) openDirStream() syscall.Errno {
	if f.dir != nil || f.dirDone {
		return 0
	}
	st, err := f.file.Stat()
	if err != nil {
		return fs.Errno(err)
	}
	if !st.IsDir() {
		return syscall.ENOTDIR
	}
	d, err := f.inst.svc.OpenDir(context.Background(), f.name)
	if err != nil {
		return fs.Errno(err)
	}
	f.dir = d
	return 0
}

// putDots packs the "." and ".." entries not listed yet, unless the stream
// is past them, at the start of out. full reports that out has no room
// left (and no error: the rest waits for the next call).
// Preconditions: f.mu held.
func (f *openFile) putDots(out []byte) (at int, full bool, e syscall.Errno) {
	if f.dirPos != int64(f.dots) {
		return 0, false, 0
	}
	for f.dots < 2 {
		d, err := f.dotEntry(f.dots == 1)
		if err != nil {
			return 0, false, fs.Errno(err)
		}
		next := wire.PutDirent(out, at, &d, f.dirPos+1)
		if next < 0 {
			if at == 0 {
				return 0, false, syscall.EINVAL
			}
			return at, true, 0
		}
		at = next
		f.dirPos++
		f.dots++
	}
	return at, false, 0
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

// putEntries packs the stream's entries into out from at on, until out
// is full or the stream ends, and returns where they end.
// Preconditions: f.mu held.
func (f *openFile) putEntries(out []byte, at int) (int, syscall.Errno) {
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
				return 0, fs.Errno(err)
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
				return 0, syscall.EINVAL // buffer too small for one entry
			}
			break
		}
		at = next
		f.dirPos++
		f.pending = f.pending[1:]
	}
	return at, 0
}
