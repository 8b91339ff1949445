package fuse

import (
	"context"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	gofuse "github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Compile-time checks of the go-fuse capabilities a node implements.
var (
	_ fusefs.InodeEmbedder      = (*node)(nil)
	_ fusefs.NodeLookuper       = (*node)(nil)
	_ fusefs.NodeGetattrer      = (*node)(nil)
	_ fusefs.NodeSetattrer      = (*node)(nil)
	_ fusefs.NodeOpener         = (*node)(nil)
	_ fusefs.NodeCreater        = (*node)(nil)
	_ fusefs.NodeMkdirer        = (*node)(nil)
	_ fusefs.NodeRmdirer        = (*node)(nil)
	_ fusefs.NodeUnlinker       = (*node)(nil)
	_ fusefs.NodeRenamer        = (*node)(nil)
	_ fusefs.NodeSymlinker      = (*node)(nil)
	_ fusefs.NodeReadlinker     = (*node)(nil)
	_ fusefs.NodeLinker         = (*node)(nil)
	_ fusefs.NodeStatfser       = (*node)(nil)
	_ fusefs.NodeOpendirHandler = (*node)(nil)
	_ fusefs.NodeGetxattrer     = (*node)(nil)
	_ fusefs.NodeSetxattrer     = (*node)(nil)
	_ fusefs.NodeListxattrer    = (*node)(nil)
	_ fusefs.NodeRemovexattrer  = (*node)(nil)
	_ fusefs.NodeCopyFileRanger = (*node)(nil)
	_ fusefs.NodeOnForgetter    = (*node)(nil)
)

// inoKey identifies a file of the service.
type inoKey struct{ dev, ino uint64 }

// bridge is the state shared by the nodes of one mount.
type bridge struct {
	svc     fs.Service
	xattr   fs.Xattrer // nil when the service has no extended attributes
	opts    Options
	rootDev uint64
	uid     uint32 // the daemon's effective ids, for chown-to-caller
	gid     uint32
	root    *node

	nextGen atomic.Uint64

	mu    sync.Mutex
	nodes map[inoKey]*node // live node of each file; guarded by mu
}

func newBridge(svc fs.Service, opts Options, root fs.Stat) *bridge {
	b := &bridge{
		svc: svc, opts: opts, rootDev: root.Dev,
		uid: uint32(os.Geteuid()), gid: uint32(os.Getegid()),
		nodes: map[inoKey]*node{},
	}
	b.xattr, _ = svc.(fs.Xattrer)
	b.nextGen.Store(1) // the root has generation 1
	b.root = &node{b: b, key: inoKey{root.Dev, root.Ino}}
	return b
}

func swap32(x uint64) uint64 { return x<<32 | x>>32 }

// ino maps a service (st_dev, st_ino) to the number the kernel sees (see
// the package documentation).
func (b *bridge) ino(dev, ino uint64) uint64 {
	n := ino ^ swap32(dev) ^ swap32(b.rootDev)
	if n == ^uint64(0) { // reserved by go-fuse
		n ^= 1 << 63
	}
	return n
}

// errno is the one place where service errors become FUSE statuses.
func errno(err error) syscall.Errno { return fs.Errno(err) }

// svcCtx detaches a request's context from FUSE interrupts (see the package
// documentation) and keeps its values.
func svcCtx(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

// node is one file of the service in go-fuse's tree.
type node struct {
	fusefs.Inode
	b   *bridge
	key inoKey // guarded by b.mu (a directory's changes on copy-up)
}

// path returns the node's service name, rebuilt from go-fuse's tree.
// ENOENT means the node is in no directory any more (unlinked).
func (n *node) path() (string, syscall.Errno) {
	var segs []string
	p := &n.Inode
	for !p.IsRoot() {
		name, parent := p.Parent()
		if parent == nil {
			return "", syscall.ENOENT
		}
		segs = append(segs, name)
		p = parent
	}
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return strings.Join(segs, "/"), 0
}

// childPath is the service name of child name of directory n.
func (n *node) childPath(name string) (string, syscall.Errno) {
	p, e := n.path()
	if e != 0 {
		return "", e
	}
	if p == "" {
		return name, 0
	}
	return p + "/" + name, 0
}

// fillAttr converts service attributes for the kernel.
func (b *bridge) fillAttr(a *gofuse.Attr, st *fs.Stat) {
	a.Ino = b.ino(st.Dev, st.Ino)
	a.Size = uint64(st.Size)
	a.Blocks = uint64(st.Blocks)
	a.Atime, a.Atimensec = uint64(st.Atime.Sec), uint32(st.Atime.Nsec)
	a.Mtime, a.Mtimensec = uint64(st.Mtime.Sec), uint32(st.Mtime.Nsec)
	a.Ctime, a.Ctimensec = uint64(st.Ctime.Sec), uint32(st.Ctime.Nsec)
	a.Mode = st.Mode
	a.Nlink = st.Nlink
	a.Uid, a.Gid = st.Uid, st.Gid
	a.Rdev = uint32(st.Rdev)
	a.Blksize = uint32(st.Blksize)
}

// child returns the node for file name just looked up or created under
// parent: the live node of the same (st_dev, st_ino) and type if there is
// one (hard links share it), else a new node with a fresh generation. A
// directory that parent already knows under name keeps its node even when
// its numbers changed (a union copies a directory up when something is
// created in it): open descriptors and working directories of the old
// node stay valid, and st_ino stays stable, as on overlayfs.
func (b *bridge) child(ctx context.Context, parent *node, name string, st *fs.Stat, out *gofuse.EntryOut) *fusefs.Inode {
	b.fillAttr(&out.Attr, st)
	key := inoKey{st.Dev, st.Ino}
	typ := st.Mode & syscall.S_IFMT
	// The directory parent knows under name, read before taking b.mu:
	// GetChild locks the parent inode, and b.mu stays a leaf.
	var known *node
	if typ == syscall.S_IFDIR {
		known, _ = nodeOf(parent.GetChild(name))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if old := b.nodes[key]; old != nil && old.StableAttr().Mode == typ {
		return &old.Inode
	}
	if known != nil && known.StableAttr().Mode == typ && known != b.root {
		if b.nodes[known.key] == known {
			delete(b.nodes, known.key)
		}
		known.key = key
		b.nodes[key] = known
		return &known.Inode
	}
	n := &node{b: b, key: key}
	b.nodes[key] = n
	return parent.NewInode(ctx, n, fusefs.StableAttr{Mode: typ, Ino: b.ino(st.Dev, st.Ino), Gen: b.nextGen.Add(1)})
}

// drop removes a node from the table: its file lost a name through the
// mount (it may be gone), or the kernel forgot it. A later lookup of the
// same numbers makes a new node.
func (b *bridge) drop(in *fusefs.Inode) {
	n, ok := nodeOf(in)
	if !ok || n == b.root {
		return
	}
	b.mu.Lock()
	if b.nodes[n.key] == n {
		delete(b.nodes, n.key)
	}
	b.mu.Unlock()
}

// nodeOf returns the bridge node of a go-fuse inode.
func nodeOf(in *fusefs.Inode) (*node, bool) {
	if in == nil {
		return nil, false
	}
	n, ok := in.Operations().(*node)
	return n, ok
}

// OnForget implements fusefs.NodeOnForgetter.
func (n *node) OnForget() { n.b.drop(&n.Inode) }

// chownToCaller gives a new file to the calling user, as a kernel
// filesystem would, when the caller is not the daemon's user. A failure
// removes nothing: the file exists, owned by the daemon.
func (b *bridge) chownToCaller(ctx context.Context, name string) syscall.Errno {
	caller, ok := gofuse.FromContext(ctx)
	if !ok || b.uid != 0 || (caller.Uid == b.uid && caller.Gid == b.gid) {
		return 0
	}
	return errno(b.svc.Chown(svcCtx(ctx), name, int(caller.Uid), int(caller.Gid), unix.AT_SYMLINK_NOFOLLOW))
}

// Lookup implements fusefs.NodeLookuper.
func (n *node) Lookup(ctx context.Context, name string, out *gofuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	st, err := n.b.svc.Lstat(svcCtx(ctx), p)
	if err != nil {
		return nil, errno(err)
	}
	return n.b.child(ctx, n, name, &st, out), 0
}

// Getattr implements fusefs.NodeGetattrer: through the open file when the
// kernel names one (fstat of an unlinked file), else by name.
func (n *node) Getattr(ctx context.Context, f fusefs.FileHandle, out *gofuse.AttrOut) syscall.Errno {
	var st fs.Stat
	var err error
	if fh, ok := f.(*fileHandle); ok {
		st, err = fh.f.Stat()
	} else {
		p, e := n.path()
		if e != 0 {
			return e
		}
		if n.IsRoot() {
			st, err = n.b.svc.Stat(svcCtx(ctx), p)
		} else {
			st, err = n.b.svc.Lstat(svcCtx(ctx), p)
		}
	}
	if err != nil {
		return errno(err)
	}
	n.b.fillAttr(&out.Attr, &st)
	return 0
}

// Setattr implements fusefs.NodeSetattrer: chmod, chown, truncate and
// utimens, in that order (truncate before times, so that an explicit
// mtime is not overwritten). The node is the file itself, never followed.
func (n *node) Setattr(ctx context.Context, f fusefs.FileHandle, in *gofuse.SetAttrIn, out *gofuse.AttrOut) syscall.Errno {
	svc, c := n.b.svc, svcCtx(ctx)
	fh, _ := f.(*fileHandle)
	// Only name-based changes need the name: an unlinked file can still
	// be truncated through its open handle.
	name, pathErr := n.path()
	if mode, ok := in.GetMode(); ok {
		if pathErr != 0 {
			return pathErr
		}
		if n.StableAttr().Mode == syscall.S_IFLNK {
			return syscall.EOPNOTSUPP // Linux has no lchmod
		}
		if err := svc.Chmod(c, name, mode); err != nil {
			return errno(err)
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		if pathErr != 0 {
			return pathErr
		}
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := svc.Chown(c, name, u, g, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return errno(err)
		}
	}
	if size, ok := in.GetSize(); ok {
		var err error
		if fh != nil {
			err = fh.f.Truncate(int64(size))
		} else if pathErr != 0 {
			return pathErr
		} else {
			err = svc.Truncate(c, name, int64(size))
		}
		if err != nil {
			return errno(err)
		}
	}
	if in.Valid&(gofuse.FATTR_ATIME|gofuse.FATTR_MTIME) != 0 {
		if pathErr != 0 {
			return pathErr
		}
		times := [2]fs.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if in.Valid&gofuse.FATTR_ATIME != 0 {
			times[0] = fs.Timespec{Sec: int64(in.Atime), Nsec: int64(in.Atimensec)}
			if in.Valid&gofuse.FATTR_ATIME_NOW != 0 {
				times[0] = fs.Timespec{Nsec: unix.UTIME_NOW}
			}
		}
		if in.Valid&gofuse.FATTR_MTIME != 0 {
			times[1] = fs.Timespec{Sec: int64(in.Mtime), Nsec: int64(in.Mtimensec)}
			if in.Valid&gofuse.FATTR_MTIME_NOW != 0 {
				times[1] = fs.Timespec{Nsec: unix.UTIME_NOW}
			}
		}
		if err := svc.Utimens(c, name, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return errno(err)
		}
	}
	return n.Getattr(ctx, f, out)
}

// openFlags removes what the kernel already handled or what would change
// the meaning of the kernel's offsets: O_APPEND (the kernel computes the
// end-of-file offset of appending writes and sends it), FMODE_EXEC, and
// the creation flags (Create handles those).
func openFlags(flags uint32) int {
	return int(flags) &^ (syscall.O_APPEND | gofuse.FMODE_EXEC | syscall.O_CREAT | syscall.O_EXCL | syscall.O_NOCTTY)
}

// openReply is the FOPEN_* flags of every open file in this mode.
func (b *bridge) openReply() uint32 {
	if b.opts.KernelCache {
		return gofuse.FOPEN_KEEP_CACHE
	}
	return gofuse.FOPEN_DIRECT_IO
}

// Open implements fusefs.NodeOpener.
func (n *node) Open(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	p, e := n.path()
	if e != 0 {
		return nil, 0, e
	}
	f, err := n.b.svc.Open(svcCtx(ctx), p, openFlags(flags), 0)
	if err != nil {
		return nil, 0, errno(err)
	}
	return &fileHandle{f: f}, n.b.openReply(), 0
}

// Create implements fusefs.NodeCreater.
func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *gofuse.EntryOut) (*fusefs.Inode, fusefs.FileHandle, uint32, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, nil, 0, e
	}
	c := svcCtx(ctx)
	f, err := n.b.svc.Open(c, p, openFlags(flags)|syscall.O_CREAT|int(flags&syscall.O_EXCL), mode)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	if e := n.b.chownToCaller(ctx, p); e != 0 {
		f.Close()
		return nil, nil, 0, e
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, 0, errno(err)
	}
	return n.b.child(ctx, n, name, &st, out), &fileHandle{f: f}, n.b.openReply(), 0
}

// created finishes Mkdir and Symlink: owner, attributes, node.
func (n *node) created(ctx context.Context, p, name string, out *gofuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	if e := n.b.chownToCaller(ctx, p); e != 0 {
		return nil, e
	}
	st, err := n.b.svc.Lstat(svcCtx(ctx), p)
	if err != nil {
		return nil, errno(err)
	}
	return n.b.child(ctx, n, name, &st, out), 0
}

// Mkdir implements fusefs.NodeMkdirer.
func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *gofuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	if err := n.b.svc.Mkdir(svcCtx(ctx), p, mode); err != nil {
		return nil, errno(err)
	}
	return n.created(ctx, p, name, out)
}

// Symlink implements fusefs.NodeSymlinker.
func (n *node) Symlink(ctx context.Context, target, name string, out *gofuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	p, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	if err := n.b.svc.Symlink(svcCtx(ctx), target, p); err != nil {
		return nil, errno(err)
	}
	return n.created(ctx, p, name, out)
}

// Rmdir implements fusefs.NodeRmdirer.
func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	victim := n.GetChild(name)
	if err := n.b.svc.Rmdir(svcCtx(ctx), p); err != nil {
		return errno(err)
	}
	n.b.drop(victim)
	return 0
}

// Unlink implements fusefs.NodeUnlinker.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	p, e := n.childPath(name)
	if e != 0 {
		return e
	}
	victim := n.GetChild(name)
	if err := n.b.svc.Unlink(svcCtx(ctx), p); err != nil {
		return errno(err)
	}
	n.b.drop(victim)
	return 0
}

// Rename implements fusefs.NodeRenamer; flags are renameat2's.
func (n *node) Rename(ctx context.Context, name string, newParent fusefs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok || np.b != n.b {
		return syscall.EXDEV
	}
	oldPath, e := n.childPath(name)
	if e != 0 {
		return e
	}
	newPath, e := np.childPath(newName)
	if e != 0 {
		return e
	}
	var victim *fusefs.Inode
	if flags&unix.RENAME_EXCHANGE == 0 {
		victim = np.GetChild(newName)
	}
	if err := n.b.svc.Rename(svcCtx(ctx), oldPath, newPath, flags); err != nil {
		return errno(err)
	}
	if victim != nil && victim != n.GetChild(name) {
		n.b.drop(victim)
	}
	return 0
}

// Link implements fusefs.NodeLinker.
func (n *node) Link(ctx context.Context, target fusefs.InodeEmbedder, name string, out *gofuse.EntryOut) (*fusefs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok || t.b != n.b {
		return nil, syscall.EXDEV
	}
	oldPath, e := t.path()
	if e != 0 {
		return nil, e // an unlinked (or O_TMPFILE) file has no name to link from
	}
	newPath, e := n.childPath(name)
	if e != 0 {
		return nil, e
	}
	c := svcCtx(ctx)
	if err := n.b.svc.Link(c, oldPath, newPath); err != nil {
		return nil, errno(err)
	}
	st, err := n.b.svc.Lstat(c, newPath)
	if err != nil {
		return nil, errno(err)
	}
	return n.b.child(ctx, n, name, &st, out), 0
}

// Readlink implements fusefs.NodeReadlinker.
func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	p, e := n.path()
	if e != 0 {
		return nil, e
	}
	target, err := n.b.svc.Readlink(svcCtx(ctx), p)
	if err != nil {
		return nil, errno(err)
	}
	return []byte(target), 0
}

// Statfs implements fusefs.NodeStatfser.
func (n *node) Statfs(ctx context.Context, out *gofuse.StatfsOut) syscall.Errno {
	p, e := n.path()
	if e != 0 {
		p = "" // statfs of an unlinked file: the filesystem is the same
	}
	s, err := n.b.svc.Statfs(svcCtx(ctx), p)
	if err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = s.Blocks, s.Bfree, s.Bavail
	out.Files, out.Ffree = s.Files, s.Ffree
	out.Bsize, out.NameLen, out.Frsize = uint32(s.Bsize), uint32(s.Namelen), uint32(s.Frsize)
	return 0
}

// OpendirHandle implements fusefs.NodeOpendirHandler.
func (n *node) OpendirHandle(ctx context.Context, flags uint32) (fusefs.FileHandle, uint32, syscall.Errno) {
	p, e := n.path()
	if e != 0 {
		return nil, 0, e
	}
	d, err := n.b.svc.OpenDir(svcCtx(ctx), p)
	if err != nil {
		return nil, 0, errno(err)
	}
	return &dirHandle{n: n, name: p, d: d}, 0, 0
}

// Extended attributes: a service without fs.Xattrer answers ENOSYS, which
// the kernel remembers for the mount (no further round trips) and reports
// to applications as EOPNOTSUPP.

// Getxattr implements fusefs.NodeGetxattrer.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if n.b.xattr == nil {
		return 0, syscall.ENOSYS
	}
	p, e := n.path()
	if e != 0 {
		return 0, e
	}
	sz, err := n.b.xattr.Getxattr(svcCtx(ctx), p, attr, dest)
	if err != nil {
		return 0, errno(err)
	}
	return uint32(sz), 0
}

// Setxattr implements fusefs.NodeSetxattrer.
func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if n.b.xattr == nil {
		return syscall.ENOSYS
	}
	p, e := n.path()
	if e != 0 {
		return e
	}
	return errno(n.b.xattr.Setxattr(svcCtx(ctx), p, attr, data, int(flags)))
}

// Listxattr implements fusefs.NodeListxattrer.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	if n.b.xattr == nil {
		return 0, syscall.ENOSYS
	}
	p, e := n.path()
	if e != 0 {
		return 0, e
	}
	sz, err := n.b.xattr.Listxattr(svcCtx(ctx), p, dest)
	if err != nil {
		return 0, errno(err)
	}
	return uint32(sz), 0
}

// Removexattr implements fusefs.NodeRemovexattrer.
func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if n.b.xattr == nil {
		return syscall.ENOSYS
	}
	p, e := n.path()
	if e != 0 {
		return e
	}
	return errno(n.b.xattr.Removexattr(svcCtx(ctx), p, attr))
}

// maxCopy bounds one COPY_FILE_RANGE reply, whose count is 32 bits.
const maxCopy = 1 << 30

// CopyFileRange implements fusefs.NodeCopyFileRanger when the service's
// files are fs.CopyFileRangers; otherwise the kernel falls back to copying
// through the caller.
func (n *node) CopyFileRange(ctx context.Context, fhIn fusefs.FileHandle, offIn uint64, out *fusefs.Inode, fhOut fusefs.FileHandle, offOut uint64, length uint64, flags uint64) (uint32, syscall.Errno) {
	src, ok1 := fhIn.(*fileHandle)
	dst, ok2 := fhOut.(*fileHandle)
	if !ok1 || !ok2 {
		return 0, syscall.EBADF
	}
	cfr, ok := src.f.(fs.CopyFileRanger)
	if !ok || flags != 0 {
		return 0, syscall.ENOSYS
	}
	length = min(length, maxCopy)
	copied, err := cfr.CopyFileRange(int64(offIn), dst.f, int64(offOut), int64(length))
	if err != nil && copied == 0 {
		return 0, errno(err)
	}
	return uint32(copied), 0
}
