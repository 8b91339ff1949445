// Package fs defines the libservice API: the POSIX-like interface that every
// user-level storage subsystem of Polytropon implements (local directory,
// union, Ceph client, client cache) and that the filesystem service, the Go
// client, the preload library and the FUSE bridge all speak.
//
// # Model
//
// A Service is one libservice instance rooted at some directory of its
// backend. Names passed to a Service are slash-separated paths relative to
// that root; a leading "/" is ignored and "" or "/" names the root itself.
// Every implementation cleans names lexically (see Clean) before use, so ".."
// never climbs above the root; symbolic links are resolved by the backend
// inside the same root (an absolute link target is taken relative to the
// service root, never the host root). A tenant therefore never reaches outside
// its instance root, whatever name or link it presents.
//
// Libservices stack: a union or a cache wraps other Services and calls them by
// plain method calls, with no copy and no context switch between layers.
// Wrappers expose the wrapped services through Unwrapper.
//
// # Handles
//
// Open returns a File and OpenDir a Dir: handles owned by the service. They
// never expose a kernel file descriptor; the layers above (the filesystem
// service, the preload library) keep their own descriptor tables.
//
// # Concurrency
//
// A Service is safe for concurrent use by many goroutines. A File is safe for
// concurrent Pread/Pwrite/Stat calls (positional I/O has no shared offset);
// Close must be called exactly once, after all other calls on the File have
// returned. A Dir is not safe for concurrent use.
//
// # Errors
//
// Errors carry errno semantics: every failure is (or wraps) a syscall.Errno,
// normally inside an *os.PathError naming the operation and the path.
// syscall.Errno implements Is for io/fs.ErrNotExist, ErrExist, ErrPermission
// and errors.ErrUnsupported, so callers test with errors.Is, and Errno
// recovers the number for the wire. An operation that a service does not
// support returns ENOSYS (see Unimplemented). I/O paths never panic.
package fs

import (
	"context"
	"errors"
	"os"
	"path"
	"strings"
	"syscall"
)

// Service is one libservice instance. See the package documentation for the
// naming, concurrency and error contract.
type Service interface {
	// Open opens (and with O_CREAT creates) the named file with open(2)
	// flags and permission bits. O_DIRECTORY and directories opened
	// O_RDONLY yield a File on which Stat, Sync and Close work and
	// Pread/Pwrite fail with EISDIR. O_APPEND makes every Pwrite append.
	Open(ctx context.Context, name string, flags int, mode uint32) (File, error)
	// Stat follows a final symbolic link; Lstat does not.
	Stat(ctx context.Context, name string) (Stat, error)
	Lstat(ctx context.Context, name string) (Stat, error)
	Mkdir(ctx context.Context, name string, mode uint32) error
	Rmdir(ctx context.Context, name string) error
	Unlink(ctx context.Context, name string) error
	// Rename accepts renameat2(2) flags: RENAME_NOREPLACE must be
	// supported; RENAME_EXCHANGE may fail with EINVAL.
	Rename(ctx context.Context, oldname, newname string, flags uint32) error
	// OpenDir opens a directory stream.
	OpenDir(ctx context.Context, name string) (Dir, error)
	Symlink(ctx context.Context, target, linkname string) error
	Readlink(ctx context.Context, name string) (string, error)
	Link(ctx context.Context, oldname, newname string) error
	// Chmod follows symbolic links.
	Chmod(ctx context.Context, name string, mode uint32) error
	// Chown and Utimens take AT_SYMLINK_NOFOLLOW in flags to act on a
	// link itself. A uid or gid of -1 leaves it unchanged. Times use the
	// utimensat(2) convention: Nsec may be UTIME_NOW or UTIME_OMIT.
	Chown(ctx context.Context, name string, uid, gid int, flags int) error
	Utimens(ctx context.Context, name string, times [2]Timespec, flags int) error
	Truncate(ctx context.Context, name string, size int64) error
	// Access checks mode (F_OK, R_OK, W_OK, X_OK) like faccessat(2) with
	// the caller's effective ids.
	Access(ctx context.Context, name string, mode uint32) error
	Statfs(ctx context.Context, name string) (Statfs, error)
	// Close releases the service. Files still open become invalid.
	Close() error
}

// File is an open file of a Service.
type File interface {
	// Pread and Pwrite have pread(2)/pwrite(2) semantics: a short read
	// with a nil error means end of file; (0, nil) is EOF. Negative
	// offsets fail with EINVAL. On a file opened O_APPEND, Pwrite ignores
	// off and appends.
	Pread(p []byte, off int64) (int, error)
	Pwrite(p []byte, off int64) (int, error)
	Stat() (Stat, error)
	Truncate(size int64) error
	// Sync flushes data and metadata to the backend; with datasync only
	// what is needed to read the data back (fdatasync(2)).
	Sync(datasync bool) error
	// Allocate is fallocate(2); mode 0 reserves space and extends the
	// size, FALLOC_FL_KEEP_SIZE and FALLOC_FL_PUNCH_HOLE may return
	// EOPNOTSUPP.
	Allocate(mode uint32, off, length int64) error
	Close() error
}

// Dir is a directory stream. Entries "." and ".." are not returned.
type Dir interface {
	// ReadDir returns up to n entries (all remaining if n <= 0). At the
	// end of the stream it returns an empty slice and a nil error.
	// Entries added or removed while a stream is open may or may not be
	// returned, but no entry present for the whole time is missed or
	// returned twice.
	ReadDir(n int) ([]Dirent, error)
	Close() error
}

// Dirent is one directory entry, like struct dirent64.
type Dirent struct {
	Name string
	Ino  uint64
	Type uint8 // DT_* from <dirent.h>; DT_UNKNOWN if the backend cannot tell.
}

// Timespec is a point in time, as in struct timespec.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// Stat is the file attributes, laid out with fixed-size fields so that it can
// travel over shared memory unchanged.
type Stat struct {
	Dev     uint64
	Ino     uint64
	Mode    uint32 // file type bits (S_IFMT) and permissions, as st_mode
	Nlink   uint32
	Uid     uint32
	Gid     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64 // in 512-byte units
	Atime   Timespec
	Mtime   Timespec
	Ctime   Timespec
}

// IsDir reports whether the attributes describe a directory.
func (s *Stat) IsDir() bool { return s.Mode&syscall.S_IFMT == syscall.S_IFDIR }

// IsRegular reports whether the attributes describe a regular file.
func (s *Stat) IsRegular() bool { return s.Mode&syscall.S_IFMT == syscall.S_IFREG }

// IsSymlink reports whether the attributes describe a symbolic link.
func (s *Stat) IsSymlink() bool { return s.Mode&syscall.S_IFMT == syscall.S_IFLNK }

// Statfs is the filesystem statistics, as struct statfs.
type Statfs struct {
	Type    int64
	Bsize   int64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Namelen int64
	Frsize  int64
}

// Optional capabilities. A service implements the ones it supports; callers
// discover them with a type assertion and fall back to ENOSYS/EOPNOTSUPP.

// Xattrer is implemented by services with extended attributes.
type Xattrer interface {
	Getxattr(ctx context.Context, name, attr string, dest []byte) (int, error)
	Setxattr(ctx context.Context, name, attr string, data []byte, flags int) error
	Listxattr(ctx context.Context, name string, dest []byte) (int, error)
	Removexattr(ctx context.Context, name, attr string) error
}

// CopyFileRanger is implemented by files that can copy a range to another
// file of the same service without passing the data through the caller.
type CopyFileRanger interface {
	CopyFileRange(srcOff int64, dst File, dstOff int64, n int64) (int64, error)
}

// Flusher is implemented by caching services: Flush writes every dirty byte
// back to the wrapped service; Drop also discards clean cached data.
type Flusher interface {
	Flush(ctx context.Context) error
	Drop(ctx context.Context) error
}

// Unwrapper is implemented by services that wrap others (union, cache).
type Unwrapper interface {
	Unwrap() []Service
}

// Clean turns a service name into its canonical form: no leading or trailing
// slash, no "." or ".." elements, "" for the root. ".." at the root stays at
// the root, so a name can never climb above the service root.
func Clean(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return ""
	}
	return c[1:]
}

// Split returns the parent directory (as Clean would give it) and the last
// element of a cleaned name. The root splits into ("", "").
func Split(cleaned string) (dir, base string) {
	i := strings.LastIndexByte(cleaned, '/')
	if i < 0 {
		return "", cleaned
	}
	return cleaned[:i], cleaned[i+1:]
}

// Errno extracts the errno carried by err: 0 for nil, EIO for an error with
// no errno inside (a service that returns such an error is buggy, and EIO is
// what the application would see).
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, os.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, os.ErrExist):
		return syscall.EEXIST
	case errors.Is(err, os.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return syscall.EINTR
	}
	return syscall.EIO
}

// PathError builds the conventional error of a failed operation.
func PathError(op, name string, errno syscall.Errno) error {
	return &os.PathError{Op: op, Path: name, Err: errno}
}
