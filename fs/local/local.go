// Package local is the libservice over a host directory: the embedded
// default backend of Polytropon and the lower layer of union and cache
// stacks.
//
// # Confinement
//
// New keeps an O_PATH directory descriptor of the root. Every name is first
// cleaned with fs.Clean and then resolved by the kernel with openat2(2) and
// RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: ".." stops at the root, an absolute
// symlink target is taken relative to the root, and /proc magic links are
// refused. Operations that must not follow the last component (Lstat,
// Unlink, Rename, Symlink, Link, Readlink, Mkdir, Rmdir) resolve the parent
// directory that way and act on the last element with the *at system call on
// the parent descriptor; names without "/" use the root descriptor directly.
// Operations that follow a final symlink (Stat, Chmod, Chown and Utimens
// without AT_SYMLINK_NOFOLLOW, Truncate, Access, Statfs) resolve the whole
// name to an O_PATH descriptor and act on that descriptor (AT_EMPTY_PATH), so
// a symlink swapped between a check and the use cannot redirect them.
// Chmod uses fchmodat2(2) with AT_EMPTY_PATH (Linux 6.6+); older kernels fall
// back to fchmodat on /proc/self/fd/N, which names exactly the resolved file.
// Extended attributes (lgetxattr semantics) go through /proc/self/fd/N of an
// O_PATH|O_NOFOLLOW descriptor resolved the same way.
//
// # O_DIRECT
//
// WithODirect (or O_DIRECT in Open flags) opens regular files for direct I/O
// when the file system reports direct-I/O alignment (statx STATX_DIOALIGN),
// so that a cache layered above keeps data out of the kernel page cache.
// Aligned requests go straight to the device. An unaligned Pread reads the
// aligned superset into an aligned bounce buffer and copies out; an unaligned
// Pwrite (and every O_APPEND write) goes through a second, buffered
// descriptor of the same open file (reopened through /proc/self/fd), which
// Linux keeps coherent with direct I/O. A read-modify-write bounce is not used
// for writes because it would race with concurrent writers of neighbouring
// bytes. Files on file systems without direct I/O are opened buffered.
//
// # Errors
//
// Every failure is an *os.PathError whose Path is the name the caller passed
// and whose Err is the syscall.Errno the kernel returned.
package local

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Compile-time checks of the interfaces Local implements.
var (
	_ fs.Service        = (*Local)(nil)
	_ fs.Xattrer        = (*Local)(nil)
	_ fs.File           = (*File)(nil)
	_ fs.CopyFileRanger = (*File)(nil)
	_ fs.Dir            = (*Dir)(nil)
)

// Option configures New.
type Option func(*Local)

// WithODirect opens regular files with O_DIRECT for data I/O (see the
// package documentation for how unaligned requests are served).
func WithODirect() Option { return func(l *Local) { l.odirect = true } }

// WithReadOnly makes every mutating call fail with EROFS.
func WithReadOnly() Option { return func(l *Local) { l.readOnly = true } }

// Local is a libservice over a host directory. It is safe for concurrent use.
type Local struct {
	odirect  bool
	readOnly bool
	path     string // host path of the root, for messages only

	// closeMu is held for reading by every call that uses root, and for
	// writing by Close, so that a descriptor number is never used after it
	// was closed and possibly reused for an unrelated directory.
	closeMu sync.RWMutex
	root    int // O_PATH|O_DIRECTORY descriptor of the root; -1 once closed

	dirs dirCache // resolved directories for Stat/Lstat (dircache.go)
}

// New opens the host directory root as a service.
func New(root string, opts ...Option) (*Local, error) {
	fd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "local.New", Path: root, Err: err}
	}
	l := &Local{root: fd, path: root}
	for _, o := range opts {
		o(l)
	}
	return l, nil
}

// String names the service for logs.
func (l *Local) String() string { return fmt.Sprintf("local(%s)", l.path) }

// Close releases the root descriptor. Files still open keep their own
// descriptors and must be closed by their owners.
func (l *Local) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.root < 0 {
		return fs.PathError("close", "", syscall.EBADF)
	}
	l.dirs.reset()
	err := unix.Close(l.root)
	l.root = -1
	if err != nil {
		return fs.PathError("close", "", errnoOf(err))
	}
	return nil
}

// acquire returns the root descriptor and must be paired with release.
func (l *Local) acquire() (int, error) {
	l.closeMu.RLock()
	if l.root < 0 {
		l.closeMu.RUnlock()
		return -1, syscall.EBADF
	}
	return l.root, nil
}

func (l *Local) release() { l.closeMu.RUnlock() }

const resolveFlags = unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS

// openat2 with RESOLVE_IN_ROOT fails with EAGAIN when any rename or mount on
// the whole host moved the global rename/mount seqlocks while the walk was
// past a ".." step; retrying is the documented cure. A slow walk (a FUSE
// backing directory with zero timeouts, a loaded host) can lose many times in
// a row, so after a few immediate retries back off, within a time budget, and
// only then report EAGAIN.
const (
	immediateRetries = 16
	retryBudget      = 2 * time.Second
	maxBackoff       = time.Millisecond
)

// openIn resolves name (cleaned, relative) under root with openat2.
func openIn(root int, name string, flags int, mode uint32) (int, error) {
	if name == "" {
		name = "."
	}
	how := unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Resolve: resolveFlags}
	// O_TMPFILE includes the O_DIRECTORY bit, so test it as a whole.
	if flags&unix.O_CREAT != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE {
		how.Mode = uint64(mode & 0o7777)
	}
	var deadline time.Time
	backoff := 20 * time.Microsecond
	for i := 0; ; i++ {
		fd, err := unix.Openat2(root, name, &how)
		if err != unix.EINTR && err != unix.EAGAIN {
			return fd, err
		}
		if i < immediateRetries {
			continue
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(retryBudget)
		} else if time.Now().After(deadline) {
			return fd, err
		}
		time.Sleep(backoff)
		backoff = min(2*backoff, maxBackoff)
	}
}

// parent resolves the directory holding cleaned and returns its descriptor
// and the last element. The descriptor is root itself (not to be closed)
// for names without "/". The root name yields base "".
func parent(root int, cleaned string) (dirfd int, base string, err error) {
	i := strings.LastIndexByte(cleaned, '/')
	if i < 0 {
		return root, cleaned, nil
	}
	fd, err := openIn(root, cleaned[:i], unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, cleaned[i+1:], nil
}

func closeParent(root, dirfd int) {
	if dirfd != root && dirfd >= 0 {
		_ = unix.Close(dirfd)
	}
}

// errnoOf turns an error from x/sys/unix into a syscall.Errno.
func errnoOf(err error) syscall.Errno {
	if e, ok := err.(syscall.Errno); ok {
		return e
	}
	return fs.Errno(err)
}

func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: errnoOf(err)}
}

// retry runs a system call again while it fails with EINTR.
func retry(f func() error) error {
	for {
		err := f()
		if err != unix.EINTR {
			return err
		}
	}
}

// withParent runs f on the parent descriptor and last element of name.
func (l *Local) withParent(op, name string, f func(dirfd int, base string) error) error {
	root, err := l.acquire()
	if err != nil {
		return fs.PathError(op, name, syscall.EBADF)
	}
	defer l.release()
	dirfd, base, err := parent(root, fs.Clean(name))
	if err != nil {
		return pathErr(op, name, err)
	}
	defer closeParent(root, dirfd)
	if err := retry(func() error { return f(dirfd, base) }); err != nil {
		return pathErr(op, name, err)
	}
	return nil
}

// withPath runs f on an O_PATH descriptor of the object name resolves to
// (following a final symlink unless nofollow).
func (l *Local) withPath(op, name string, nofollow bool, f func(fd int) error) error {
	root, err := l.acquire()
	if err != nil {
		return fs.PathError(op, name, syscall.EBADF)
	}
	defer l.release()
	flags := unix.O_PATH
	if nofollow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := openIn(root, fs.Clean(name), flags, 0)
	if err != nil {
		return pathErr(op, name, err)
	}
	defer unix.Close(fd)
	if err := retry(func() error { return f(fd) }); err != nil {
		return pathErr(op, name, err)
	}
	return nil
}

func (l *Local) checkWritable(op, name string) error {
	if l.readOnly {
		return fs.PathError(op, name, syscall.EROFS)
	}
	return nil
}

// Open opens name; see fs.Service.
func (l *Local) Open(_ context.Context, name string, flags int, mode uint32) (fs.File, error) {
	acc := flags & unix.O_ACCMODE
	if l.readOnly && (acc != unix.O_RDONLY || flags&(unix.O_CREAT|unix.O_TRUNC) != 0 || flags&unix.O_TMPFILE == unix.O_TMPFILE) {
		return nil, fs.PathError("open", name, syscall.EROFS)
	}
	direct := l.odirect || flags&unix.O_DIRECT != 0
	flags &^= unix.O_DIRECT
	root, err := l.acquire()
	if err != nil {
		return nil, fs.PathError("open", name, syscall.EBADF)
	}
	fd, err := openIn(root, fs.Clean(name), flags, mode)
	l.release()
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	f := &File{fd: fd, name: name, flags: flags, bufFd: -1}
	if direct {
		f.enableDirect()
	}
	return f, nil
}

// Stat returns the attributes of name, following a final symlink.
func (l *Local) Stat(_ context.Context, name string) (fs.Stat, error) {
	cleaned := fs.Clean(name)
	if cleaned != "" && !strings.Contains(cleaned, "/") {
		// Fast path: one fstatat on the root; only a symlink needs the
		// confined resolution below.
		root, err := l.acquire()
		if err != nil {
			return fs.Stat{}, fs.PathError("stat", name, syscall.EBADF)
		}
		var st unix.Stat_t
		err = retry(func() error { return unix.Fstatat(root, cleaned, &st, unix.AT_SYMLINK_NOFOLLOW) })
		l.release()
		if err != nil {
			return fs.Stat{}, pathErr("stat", name, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFLNK {
			return statFromUnix(&st), nil
		}
	} else if st, ok, err := l.statCached("stat", name, cleaned); ok && (err != nil || st.Mode&unix.S_IFMT != unix.S_IFLNK) {
		// A nested name in a cached directory: one fstatat; a final
		// symlink takes the confined path below.
		return st, err
	}
	return l.statPath("stat", name, false)
}

// statCached lstats a nested name through the directory cache, caching its
// parent on a miss. ok is false when the cache cannot answer (the root name,
// a parent that does not resolve); the caller then takes the confined path,
// which also produces the right error.
func (l *Local) statCached(op, name, cleaned string) (out fs.Stat, ok bool, err error) {
	dir, base := fs.Split(cleaned)
	if dir == "" {
		return out, false, nil
	}
	root, err := l.acquire()
	if err != nil {
		return out, false, nil
	}
	defer l.release()
	var st unix.Stat_t
	hit, err := l.dirs.fstatat(dir, base, &st)
	if !hit {
		if l.dirs.add(root, dir) != nil {
			return out, false, nil
		}
		if hit, err = l.dirs.fstatat(dir, base, &st); !hit {
			return out, false, nil
		}
	}
	if err != nil {
		return out, true, pathErr(op, name, err)
	}
	return statFromUnix(&st), true, nil
}

// Lstat returns the attributes of name without following a final symlink.
// A name without "/" is one fstatat on the root (nothing to resolve but the
// name itself, which is not followed); a nested name is one confined walk:
// openat2(O_PATH|O_NOFOLLOW) + fstat (an O_PATH|O_NOFOLLOW descriptor of a
// symlink refers to the link itself), instead of resolving the parent and
// then looking the last element up again.
func (l *Local) Lstat(_ context.Context, name string) (fs.Stat, error) {
	cleaned := fs.Clean(name)
	if strings.Contains(cleaned, "/") {
		if st, ok, err := l.statCached("lstat", name, cleaned); ok {
			return st, err
		}
		return l.statPath("lstat", name, true)
	}
	root, err := l.acquire()
	if err != nil {
		return fs.Stat{}, fs.PathError("lstat", name, syscall.EBADF)
	}
	defer l.release()
	var st unix.Stat_t
	if cleaned == "" {
		err = retry(func() error { return unix.Fstat(root, &st) })
	} else {
		err = retry(func() error { return unix.Fstatat(root, cleaned, &st, unix.AT_SYMLINK_NOFOLLOW) })
	}
	if err != nil {
		return fs.Stat{}, pathErr("lstat", name, err)
	}
	return statFromUnix(&st), nil
}

func (l *Local) statPath(op, name string, nofollow bool) (fs.Stat, error) {
	var out fs.Stat
	err := l.withPath(op, name, nofollow, func(fd int) error {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return err
		}
		out = statFromUnix(&st)
		return nil
	})
	return out, err
}

// Mkdir creates a directory.
func (l *Local) Mkdir(_ context.Context, name string, mode uint32) error {
	if err := l.checkWritable("mkdir", name); err != nil {
		return err
	}
	return l.withParent("mkdir", name, func(dirfd int, base string) error {
		if base == "" {
			return unix.EEXIST
		}
		return unix.Mkdirat(dirfd, base, mode&0o7777)
	})
}

// Rmdir removes an empty directory.
func (l *Local) Rmdir(_ context.Context, name string) error {
	if err := l.checkWritable("rmdir", name); err != nil {
		return err
	}
	return l.withParent("rmdir", name, func(dirfd int, base string) error {
		if base == "" {
			return unix.EBUSY
		}
		return l.dirs.changing(func() error { return unix.Unlinkat(dirfd, base, unix.AT_REMOVEDIR) })
	})
}

// Unlink removes a non-directory; a directory fails with EISDIR as on Linux.
func (l *Local) Unlink(_ context.Context, name string) error {
	if err := l.checkWritable("unlink", name); err != nil {
		return err
	}
	return l.withParent("unlink", name, func(dirfd int, base string) error {
		if base == "" {
			return unix.EISDIR
		}
		return l.dirs.unlinking(fs.Clean(name), func() error { return unix.Unlinkat(dirfd, base, 0) })
	})
}

// twoParents resolves the parents of two names and runs f.
func (l *Local) twoParents(op, oldname, newname string, f func(olddir int, oldbase string, newdir int, newbase string) error) error {
	root, err := l.acquire()
	if err != nil {
		return fs.PathError(op, oldname, syscall.EBADF)
	}
	defer l.release()
	od, ob, err := parent(root, fs.Clean(oldname))
	if err != nil {
		return pathErr(op, oldname, err)
	}
	defer closeParent(root, od)
	nd, nb, err := parent(root, fs.Clean(newname))
	if err != nil {
		return pathErr(op, newname, err)
	}
	defer closeParent(root, nd)
	if err := retry(func() error { return f(od, ob, nd, nb) }); err != nil {
		return pathErr(op, oldname, err)
	}
	return nil
}

// Rename renames oldname to newname with renameat2(2) flags.
func (l *Local) Rename(_ context.Context, oldname, newname string, flags uint32) error {
	if err := l.checkWritable("rename", oldname); err != nil {
		return err
	}
	return l.twoParents("rename", oldname, newname, func(od int, ob string, nd int, nb string) error {
		if ob == "" || nb == "" {
			return unix.EBUSY
		}
		return l.dirs.changing(func() error { return unix.Renameat2(od, ob, nd, nb, uint(flags)) })
	})
}

// Symlink creates linkname pointing to target (stored verbatim).
func (l *Local) Symlink(_ context.Context, target, linkname string) error {
	if err := l.checkWritable("symlink", linkname); err != nil {
		return err
	}
	return l.withParent("symlink", linkname, func(dirfd int, base string) error {
		if base == "" {
			return unix.EEXIST
		}
		return unix.Symlinkat(target, dirfd, base)
	})
}

// Readlink returns the target of a symlink.
func (l *Local) Readlink(_ context.Context, name string) (string, error) {
	var out string
	err := l.withParent("readlink", name, func(dirfd int, base string) error {
		if base == "" {
			return unix.EINVAL
		}
		for size := 256; ; size *= 2 {
			buf := make([]byte, size)
			n, err := unix.Readlinkat(dirfd, base, buf)
			if err != nil {
				return err
			}
			if n < size {
				out = string(buf[:n])
				return nil
			}
		}
	})
	return out, err
}

// Link creates newname as a hard link of oldname (a final symlink of
// oldname is linked itself, as link(2) does on Linux).
func (l *Local) Link(_ context.Context, oldname, newname string) error {
	if err := l.checkWritable("link", newname); err != nil {
		return err
	}
	return l.twoParents("link", oldname, newname, func(od int, ob string, nd int, nb string) error {
		if ob == "" {
			return unix.EPERM
		}
		if nb == "" {
			return unix.EEXIST
		}
		return unix.Linkat(od, ob, nd, nb, 0)
	})
}

// Chmod changes permission bits, following a final symlink.
func (l *Local) Chmod(_ context.Context, name string, mode uint32) error {
	if err := l.checkWritable("chmod", name); err != nil {
		return err
	}
	return l.withPath("chmod", name, false, func(fd int) error {
		err := unix.Fchmodat(fd, "", mode&0o7777, unix.AT_EMPTY_PATH)
		if err == unix.EOPNOTSUPP || err == unix.ENOSYS {
			// No fchmodat2: the /proc magic link names the resolved file.
			return unix.Fchmodat(unix.AT_FDCWD, procFdPath(fd), mode&0o7777, 0)
		}
		return err
	})
}

func procFdPath(fd int) string { return fmt.Sprintf("/proc/self/fd/%d", fd) }

// Chown changes ownership; flags may hold AT_SYMLINK_NOFOLLOW.
func (l *Local) Chown(_ context.Context, name string, uid, gid int, flags int) error {
	if flags&^unix.AT_SYMLINK_NOFOLLOW != 0 {
		return fs.PathError("chown", name, syscall.EINVAL)
	}
	if err := l.checkWritable("chown", name); err != nil {
		return err
	}
	nofollow := flags&unix.AT_SYMLINK_NOFOLLOW != 0
	return l.withPath("chown", name, nofollow, func(fd int) error {
		return unix.Fchownat(fd, "", uid, gid, unix.AT_EMPTY_PATH)
	})
}

// Utimens sets access and modification times (utimensat(2) conventions).
func (l *Local) Utimens(_ context.Context, name string, times [2]fs.Timespec, flags int) error {
	if flags&^unix.AT_SYMLINK_NOFOLLOW != 0 {
		return fs.PathError("utimens", name, syscall.EINVAL)
	}
	if err := l.checkWritable("utimens", name); err != nil {
		return err
	}
	ts := []unix.Timespec{
		{Sec: times[0].Sec, Nsec: times[0].Nsec},
		{Sec: times[1].Sec, Nsec: times[1].Nsec},
	}
	nofollow := flags&unix.AT_SYMLINK_NOFOLLOW != 0
	return l.withPath("utimens", name, nofollow, func(fd int) error {
		return unix.UtimesNanoAt(fd, "", ts, unix.AT_EMPTY_PATH)
	})
}

// Truncate sets the size of a file, following a final symlink.
func (l *Local) Truncate(_ context.Context, name string, size int64) error {
	if size < 0 {
		return fs.PathError("truncate", name, syscall.EINVAL)
	}
	if err := l.checkWritable("truncate", name); err != nil {
		return err
	}
	root, err := l.acquire()
	if err != nil {
		return fs.PathError("truncate", name, syscall.EBADF)
	}
	defer l.release()
	// O_NONBLOCK: never block on a FIFO; ftruncate then reports EINVAL.
	fd, err := openIn(root, fs.Clean(name), unix.O_WRONLY|unix.O_NONBLOCK|unix.O_NOCTTY, 0)
	if err != nil {
		return pathErr("truncate", name, err)
	}
	defer unix.Close(fd)
	if err := retry(func() error { return unix.Ftruncate(fd, size) }); err != nil {
		return pathErr("truncate", name, err)
	}
	return nil
}

// Access checks permissions with the effective ids of the service process.
func (l *Local) Access(_ context.Context, name string, mode uint32) error {
	if mode&^uint32(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return fs.PathError("access", name, syscall.EINVAL)
	}
	err := l.withPath("access", name, false, func(fd int) error {
		return unix.Faccessat2(fd, "", mode, unix.AT_EMPTY_PATH|unix.AT_EACCESS)
	})
	if err == nil && l.readOnly && mode&unix.W_OK != 0 {
		return fs.PathError("access", name, syscall.EROFS)
	}
	return err
}

// Statfs returns statistics of the file system holding name.
func (l *Local) Statfs(_ context.Context, name string) (fs.Statfs, error) {
	var out fs.Statfs
	err := l.withPath("statfs", name, false, func(fd int) error {
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil {
			return err
		}
		out = fs.Statfs{
			Type: st.Type, Bsize: st.Bsize, Blocks: st.Blocks, Bfree: st.Bfree,
			Bavail: st.Bavail, Files: st.Files, Ffree: st.Ffree,
			Namelen: st.Namelen, Frsize: st.Frsize,
		}
		return nil
	})
	return out, err
}

// OpenDir opens a directory stream.
func (l *Local) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	root, err := l.acquire()
	if err != nil {
		return nil, fs.PathError("opendir", name, syscall.EBADF)
	}
	fd, err := openIn(root, fs.Clean(name), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	l.release()
	if err != nil {
		return nil, pathErr("opendir", name, err)
	}
	return &Dir{fd: fd, name: name}, nil
}

func statFromUnix(st *unix.Stat_t) fs.Stat {
	return fs.Stat{
		Dev:     st.Dev,
		Ino:     st.Ino,
		Mode:    st.Mode,
		Nlink:   uint32(st.Nlink),
		Uid:     st.Uid,
		Gid:     st.Gid,
		Rdev:    st.Rdev,
		Size:    st.Size,
		Blksize: int64(st.Blksize),
		Blocks:  st.Blocks,
		Atime:   fs.Timespec{Sec: st.Atim.Sec, Nsec: st.Atim.Nsec},
		Mtime:   fs.Timespec{Sec: st.Mtim.Sec, Nsec: st.Mtim.Nsec},
		Ctime:   fs.Timespec{Sec: st.Ctim.Sec, Nsec: st.Ctim.Nsec},
	}
}
