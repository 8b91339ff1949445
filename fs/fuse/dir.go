package fuse

import (
	"context"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"

	"polytropon/fs"
)

var (
	_ fusefs.FileReaddirenter = (*dirHandle)(nil)
	_ fusefs.FileSeekdirer    = (*dirHandle)(nil)
	_ fusefs.FileReleasedirer = (*dirHandle)(nil)
	_ fusefs.FileFsyncdirer   = (*dirHandle)(nil)
)

// dirBatch is how many entries one service ReadDir call fetches: readdir
// streams, it never loads a whole large directory at once.
const dirBatch = 256

// dirHandle streams a service directory to the kernel. go-fuse serialises
// the calls on one handle, as fs.Dir requires.
//
// The stream starts with "." and "..", as getdents does. Offsets are entry
// positions (1 after ".", 2 after "..", ...); a seek to another position
// reopens the stream and skips entries, which is exact for rewinddir and
// for positions in a directory that did not change meanwhile.
type dirHandle struct {
	n    *node
	name string
	d    fs.Dir // nil after a failed reopen

	pending []fs.Dirent // fetched, not yet returned
	pos     uint64      // entries returned so far ("." and ".." included)
	eof     bool
}

// Readdirent implements fusefs.FileReaddirenter; nil means end of stream.
func (h *dirHandle) Readdirent(ctx context.Context) (*gofuse.DirEntry, syscall.Errno) {
	var de gofuse.DirEntry
	switch h.pos {
	case 0:
		de = gofuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: h.n.StableAttr().Ino}
	case 1:
		de = gofuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: h.n.StableAttr().Ino}
		if _, parent := h.n.Parent(); parent != nil {
			de.Ino = parent.StableAttr().Ino
		}
	default:
		e, errno, ok := h.next()
		if errno != 0 || !ok {
			return nil, errno
		}
		// Dirent.Ino has no device: map it as if it were on the root's.
		de = gofuse.DirEntry{Name: e.Name, Ino: h.n.b.ino(h.n.b.rootDev, e.Ino), Mode: uint32(e.Type) << 12}
	}
	h.pos++
	de.Off = h.pos
	return &de, 0
}

// next returns the next service entry; ok is false at the end.
func (h *dirHandle) next() (fs.Dirent, syscall.Errno, bool) {
	if h.d == nil {
		return fs.Dirent{}, syscall.EBADF, false
	}
	if len(h.pending) == 0 && !h.eof {
		ents, err := h.d.ReadDir(dirBatch)
		if err != nil {
			return fs.Dirent{}, errno(err), false
		}
		h.pending = ents
		h.eof = len(ents) == 0
	}
	if len(h.pending) == 0 {
		return fs.Dirent{}, 0, false
	}
	e := h.pending[0]
	h.pending = h.pending[1:]
	return e, 0, true
}

// Seekdir implements fusefs.FileSeekdirer.
func (h *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off == h.pos {
		return 0
	}
	if h.d != nil {
		_ = h.d.Close() // a read-only stream: nothing to lose
		h.d = nil
	}
	d, err := h.n.b.svc.OpenDir(svcCtx(ctx), h.name)
	if err != nil {
		return errno(err)
	}
	h.d, h.pending, h.pos, h.eof = d, nil, 0, false
	for h.pos < off && h.pos < 2 {
		h.pos++
	}
	for h.pos < off {
		_, e, ok := h.next()
		if e != 0 {
			return e
		}
		if !ok {
			break
		}
		h.pos++
	}
	return 0
}

// Releasedir implements fusefs.FileReleasedirer.
func (h *dirHandle) Releasedir(context.Context, uint32) {
	if h.d != nil {
		_ = h.d.Close() // the kernel ignores the result of a release
		h.d = nil
	}
}

// Fsyncdir implements fusefs.FileFsyncdirer: through an O_DIRECTORY file,
// on which the service supports Sync.
func (h *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	f, err := h.n.b.svc.Open(svcCtx(ctx), h.name, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return errno(err)
	}
	serr := f.Sync(flags&1 != 0)
	cerr := f.Close()
	if serr != nil {
		return errno(serr)
	}
	return errno(cerr)
}
