//go:build ceph && cgo

package cephfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	ceph "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// Available reports whether this build talks to Ceph (true with -tags ceph).
const Available = true

// cephSuperMagic is CEPH_SUPER_MAGIC, statfs's f_type of a CephFS mount.
const cephSuperMagic = 0x00c36400

// nameMax is the longest name component CephFS clients accept (NAME_MAX).
const nameMax = 255

// FS is a mounted CephFS client rooted at Config.Root.
type FS struct {
	mount *ceph.MountInfo
	id    string
	root  string
	euid  int
	egid  int

	// nsMu orders lookups against the calls that can put a symbolic link
	// where a directory was: Symlink and Rename hold it for writing,
	// every other path-based call for reading, from lookup until the
	// libcephfs call returns. So a link swapped in by this client cannot
	// redirect another call of this client outside the root.
	nsMu sync.RWMutex
	// appendMu makes O_APPEND's seek-to-end-and-write atomic against the
	// other appends of this client.
	appendMu sync.Mutex

	closeMu sync.Mutex
	closed  bool // guarded by closeMu
}

var (
	_ fs.Service = (*FS)(nil)
	_ fs.Xattrer = (*FS)(nil)
)

// New creates a client, reads the configuration, authenticates and mounts
// cfg.Root. It fails within cfg.MountTimeout when the monitors cannot be
// reached or the key is refused; ctx can end the wait earlier (the abandoned
// mount attempt is released in the background when it returns).
func New(ctx context.Context, cfg Config) (*FS, error) {
	if cfg.ConfPath == "" {
		return nil, errors.New("cephfs: Config.ConfPath is empty (want a ceph.conf path)")
	}
	if _, err := os.Stat(cfg.ConfPath); err != nil {
		return nil, fmt.Errorf("cephfs: ceph.conf: %w", err)
	}
	if cfg.Keyring != "" {
		if _, err := os.Stat(cfg.Keyring); err != nil {
			return nil, fmt.Errorf("cephfs: keyring: %w", err)
		}
	}
	if cfg.ID == "" {
		cfg.ID = "admin"
	}
	if strings.HasPrefix(cfg.ID, "client.") {
		return nil, fmt.Errorf("cephfs: Config.ID %q: give the id without the \"client.\" prefix", cfg.ID)
	}
	root := "/" + fs.Clean(cfg.Root)
	timeout := cfg.MountTimeout
	if timeout <= 0 {
		timeout = DefaultMountTimeout
	}
	what := fmt.Sprintf("cephfs: mount %s as client.%s (conf %s)", root, cfg.ID, cfg.ConfPath)

	m, err := ceph.CreateMountWithId(cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("%s: create: %w", what, err)
	}
	if err := configure(m, cfg, timeout); err != nil {
		_ = m.Release()
		return nil, fmt.Errorf("%s: %w", what, err)
	}

	type result struct{ err error }
	done := make(chan result, 1)
	abandoned := make(chan struct{})
	go func() {
		err := m.Init()
		if err == nil && cfg.FSName != "" {
			if err = m.SelectFilesystem(cfg.FSName); err != nil {
				err = fmt.Errorf("select file system %q: %w", cfg.FSName, err)
			}
		}
		if err == nil {
			err = m.MountWithRoot(root)
		}
		select {
		case done <- result{err}:
		case <-abandoned:
			// The caller gave up; nobody will use this client.
			if err == nil {
				_ = m.Unmount()
			}
			_ = m.Release()
		}
	}()
	// Slack above the client's own timeout: it reports the real reason.
	timer := time.NewTimer(timeout + 5*time.Second)
	defer timer.Stop()
	select {
	case r := <-done:
		if r.err != nil {
			_ = m.Release()
			return nil, fmt.Errorf("%s: %w", what, mountError(r.err, root))
		}
	case <-ctx.Done():
		close(abandoned)
		return nil, fmt.Errorf("%s: %w", what, ctx.Err())
	case <-timer.C:
		close(abandoned)
		return nil, fmt.Errorf("%s: no answer within %v (monitors unreachable?): %w", what, timeout+5*time.Second, syscall.ETIMEDOUT)
	}
	// Modes given to create calls are final, as for a service (no umask).
	setUmask(m, 0)
	return &FS{mount: m, id: cfg.ID, root: root, euid: os.Geteuid(), egid: os.Getegid()}, nil
}

func configure(m *ceph.MountInfo, cfg Config, timeout time.Duration) error {
	if err := m.ReadConfigFile(cfg.ConfPath); err != nil {
		return fmt.Errorf("reading %s: %w", cfg.ConfPath, err)
	}
	secs := strconv.Itoa(int((timeout + time.Second - 1) / time.Second))
	opts := map[string]string{
		// Bounded waits for monitors and authentication: a wrong address
		// or key fails instead of hanging.
		"client_mount_timeout": secs,
		"rados_mon_op_timeout": secs,
	}
	if cfg.Keyring != "" {
		opts["keyring"] = cfg.Keyring
	}
	for k, v := range cfg.ClientOptions {
		opts[k] = v
	}
	keys := make([]string, 0, len(opts))
	for k := range opts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if err := m.SetConfigOption(k, opts[k]); err != nil {
			return fmt.Errorf("client option %s=%q: %w", k, opts[k], err)
		}
	}
	return nil
}

// mountError turns the usual mount failures into messages a user can act
// on, keeping the errno for errors.Is.
func mountError(err error, root string) error {
	e := errnoOf(err)
	pe := fs.PathError("mount", root, e)
	switch e {
	case syscall.ENOENT:
		return fmt.Errorf("root directory %s does not exist in the file system: %w", root, pe)
	case syscall.EACCES, syscall.EPERM:
		return fmt.Errorf("permission denied (wrong key, or the key does not allow %s): %w", root, pe)
	case syscall.ETIMEDOUT:
		return fmt.Errorf("timed out (monitor address or key wrong, cluster down?): %w", pe)
	}
	return pe
}

// ID returns the client id ("t1").
func (f *FS) ID() string { return f.id }

// Root returns the directory of the file system mounted as the root.
func (f *FS) Root() string { return f.root }

// Close unmounts the client and releases it. Files still open become
// invalid. Calling Close again returns nil.
func (f *FS) Close() error {
	f.closeMu.Lock()
	defer f.closeMu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	if err := f.mount.Unmount(); err != nil {
		errs = append(errs, fmt.Errorf("cephfs: unmount %s: %w", f.root, err))
	}
	if err := f.mount.Release(); err != nil {
		errs = append(errs, fmt.Errorf("cephfs: release %s: %w", f.root, err))
	}
	return errors.Join(errs...)
}

// SyncFS writes every dirty byte of the client back to the cluster.
func (f *FS) SyncFS() error {
	if err := f.mount.SyncFs(); err != nil {
		return fs.PathError("syncfs", "", errnoOf(err))
	}
	return nil
}

// path turns a service name into the client's absolute, link-free path
// (see lookup).
//
// Preconditions: f.nsMu is held.
func (f *FS) path(op, name string, follow bool) (string, error) {
	p, err := f.lookup(fs.Clean(name), follow)
	if err != nil {
		return "", fs.PathError(op, name, errnoOf(err))
	}
	return p, nil
}

func pathErr(op, name string, err error) error {
	if err == nil {
		return nil
	}
	return fs.PathError(op, name, errnoOf(err))
}

// Open implements fs.Service.
func (f *FS) Open(ctx context.Context, name string, flags int, mode uint32) (fs.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, fs.PathError("open", name, fs.Errno(err))
	}
	flags &^= unix.O_CLOEXEC | unix.O_NOCTTY | unix.O_LARGEFILE
	// O_NOFOLLOW fails on a final link (ELOOP from libcephfs); O_EXCL
	// fails on any existing name, a dangling link included.
	follow := flags&unix.O_NOFOLLOW == 0 && flags&(unix.O_CREAT|unix.O_EXCL) != unix.O_CREAT|unix.O_EXCL
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("open", name, follow)
	if err != nil {
		return nil, err
	}
	h, err := f.mount.Open(p, flags, mode)
	if err != nil {
		return nil, pathErr("open", name, err)
	}
	st, err := h.Fstatx(ceph.StatxMode, 0)
	if err != nil {
		_ = h.Close()
		return nil, pathErr("open", name, err)
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if flags&unix.O_DIRECTORY != 0 && !isDir {
		_ = h.Close()
		return nil, fs.PathError("open", name, syscall.ENOTDIR)
	}
	if isDir && flags&unix.O_ACCMODE != unix.O_RDONLY {
		_ = h.Close()
		return nil, fs.PathError("open", name, syscall.EISDIR)
	}
	return &file{fs: f, h: h, name: name, dir: isDir, flags: flags}, nil
}

func (f *FS) statx(op, name string, flags ceph.AtFlags) (fs.Stat, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path(op, name, flags&ceph.AtSymlinkNofollow == 0)
	if err != nil {
		return fs.Stat{}, err
	}
	st, err := f.mount.Statx(p, ceph.StatxBasicStats, flags)
	if err != nil {
		return fs.Stat{}, pathErr(op, name, err)
	}
	return statOf(st), nil
}

// Stat implements fs.Service.
func (f *FS) Stat(_ context.Context, name string) (fs.Stat, error) {
	return f.statx("stat", name, 0)
}

// Lstat implements fs.Service.
func (f *FS) Lstat(_ context.Context, name string) (fs.Stat, error) {
	return f.statx("lstat", name, ceph.AtSymlinkNofollow)
}

func statOf(s *ceph.CephStatx) fs.Stat {
	return fs.Stat{
		Dev: s.Dev, Ino: uint64(s.Inode), Mode: uint32(s.Mode), Nlink: s.Nlink,
		Uid: s.Uid, Gid: s.Gid, Rdev: s.Rdev, Size: int64(s.Size),
		Blksize: int64(s.Blksize), Blocks: int64(s.Blocks),
		Atime: fs.Timespec{Sec: s.Atime.Sec, Nsec: s.Atime.Nsec},
		Mtime: fs.Timespec{Sec: s.Mtime.Sec, Nsec: s.Mtime.Nsec},
		Ctime: fs.Timespec{Sec: s.Ctime.Sec, Nsec: s.Ctime.Nsec},
	}
}

// Mkdir implements fs.Service.
func (f *FS) Mkdir(_ context.Context, name string, mode uint32) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("mkdir", name, false)
	if err != nil {
		return err
	}
	if p == "/" {
		return fs.PathError("mkdir", name, syscall.EEXIST)
	}
	return pathErr("mkdir", name, f.mount.MakeDir(p, mode))
}

// Rmdir implements fs.Service.
func (f *FS) Rmdir(_ context.Context, name string) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("rmdir", name, false)
	if err != nil {
		return err
	}
	if p == "/" {
		return fs.PathError("rmdir", name, syscall.EBUSY)
	}
	return pathErr("rmdir", name, f.mount.RemoveDir(p))
}

// Unlink implements fs.Service.
func (f *FS) Unlink(_ context.Context, name string) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("unlink", name, false)
	if err != nil {
		return err
	}
	if p == "/" {
		return fs.PathError("unlink", name, syscall.EISDIR)
	}
	return pathErr("unlink", name, f.mount.Unlink(p))
}

// Rename implements fs.Service. RENAME_NOREPLACE is emulated (see the
// package documentation); RENAME_EXCHANGE fails with EINVAL.
func (f *FS) Rename(_ context.Context, oldname, newname string, flags uint32) error {
	f.nsMu.Lock()
	defer f.nsMu.Unlock()
	op, err := f.path("rename", oldname, false)
	if err != nil {
		return err
	}
	np, err := f.path("rename", newname, false)
	if err != nil {
		return err
	}
	if op == "/" || np == "/" {
		return fs.PathError("rename", oldname, syscall.EBUSY)
	}
	switch flags {
	case 0:
		return pathErr("rename", oldname, f.mount.Rename(op, np))
	case unix.RENAME_NOREPLACE:
		if _, err := f.mount.Statx(op, ceph.StatxMode, ceph.AtSymlinkNofollow); err != nil {
			return pathErr("rename", oldname, err)
		}
		_, err := f.mount.Statx(np, ceph.StatxMode, ceph.AtSymlinkNofollow)
		if err == nil {
			return fs.PathError("rename", newname, syscall.EEXIST)
		}
		if errnoOf(err) != syscall.ENOENT {
			return pathErr("rename", newname, err)
		}
		return pathErr("rename", oldname, f.mount.Rename(op, np))
	default:
		return fs.PathError("rename", oldname, syscall.EINVAL)
	}
}

// OpenDir implements fs.Service.
func (f *FS) OpenDir(_ context.Context, name string) (fs.Dir, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("opendir", name, true)
	if err != nil {
		return nil, err
	}
	d, err := f.mount.OpenDir(p)
	if err != nil {
		return nil, pathErr("opendir", name, err)
	}
	return &dir{d: d, name: name}, nil
}

// Symlink implements fs.Service.
func (f *FS) Symlink(_ context.Context, target, linkname string) error {
	f.nsMu.Lock()
	defer f.nsMu.Unlock()
	p, err := f.path("symlink", linkname, false)
	if err != nil {
		return err
	}
	if target == "" {
		return fs.PathError("symlink", linkname, syscall.ENOENT)
	}
	if p == "/" {
		return fs.PathError("symlink", linkname, syscall.EEXIST)
	}
	return pathErr("symlink", linkname, f.mount.Symlink(target, p))
}

// Readlink implements fs.Service.
func (f *FS) Readlink(_ context.Context, name string) (string, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("readlink", name, false)
	if err != nil {
		return "", err
	}
	t, err := f.mount.Readlink(p)
	if err != nil {
		return "", pathErr("readlink", name, err)
	}
	return t, nil
}

// Link implements fs.Service.
func (f *FS) Link(_ context.Context, oldname, newname string) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	op, err := f.path("link", oldname, false)
	if err != nil {
		return err
	}
	np, err := f.path("link", newname, false)
	if err != nil {
		return err
	}
	if np == "/" {
		return fs.PathError("link", newname, syscall.EEXIST)
	}
	return pathErr("link", newname, f.mount.Link(op, np))
}

// Chmod implements fs.Service.
func (f *FS) Chmod(_ context.Context, name string, mode uint32) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("chmod", name, true)
	if err != nil {
		return err
	}
	return pathErr("chmod", name, f.mount.Chmod(p, mode&07777))
}

// Chown implements fs.Service.
func (f *FS) Chown(_ context.Context, name string, uid, gid int, flags int) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("chown", name, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return err
	}
	if flags&^unix.AT_SYMLINK_NOFOLLOW != 0 {
		return fs.PathError("chown", name, syscall.EINVAL)
	}
	if flags&unix.AT_SYMLINK_NOFOLLOW != 0 {
		return pathErr("chown", name, f.mount.Lchown(p, uint32(uid), uint32(gid)))
	}
	return pathErr("chown", name, f.mount.Chown(p, uint32(uid), uint32(gid)))
}

// Utimens implements fs.Service.
func (f *FS) Utimens(_ context.Context, name string, times [2]fs.Timespec, flags int) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("utimens", name, flags&unix.AT_SYMLINK_NOFOLLOW == 0)
	if err != nil {
		return err
	}
	if flags&^unix.AT_SYMLINK_NOFOLLOW != 0 {
		return fs.PathError("utimens", name, syscall.EINVAL)
	}
	for _, t := range times {
		if t.Nsec != unix.UTIME_NOW && t.Nsec != unix.UTIME_OMIT && (t.Nsec < 0 || t.Nsec >= 1e9) {
			return fs.PathError("utimens", name, syscall.EINVAL)
		}
	}
	return pathErr("utimens", name, setTimes(f.mount, p, times, flags&unix.AT_SYMLINK_NOFOLLOW != 0))
}

// Truncate implements fs.Service.
func (f *FS) Truncate(_ context.Context, name string, size int64) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("truncate", name, true)
	if err != nil {
		return err
	}
	if size < 0 {
		return fs.PathError("truncate", name, syscall.EINVAL)
	}
	st, err := f.mount.Statx(p, ceph.StatxMode, 0)
	if err != nil {
		return pathErr("truncate", name, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fs.PathError("truncate", name, syscall.EISDIR)
	}
	return pathErr("truncate", name, f.mount.Truncate(p, size))
}

// Access implements fs.Service: the mode bits checked against the caller's
// effective ids (root passes R_OK and W_OK always, X_OK when some execute
// bit is set or the file is a directory), like faccessat with AT_EACCESS.
func (f *FS) Access(_ context.Context, name string, mode uint32) error {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("access", name, true)
	if err != nil {
		return err
	}
	if mode&^uint32(unix.R_OK|unix.W_OK|unix.X_OK) != 0 {
		return fs.PathError("access", name, syscall.EINVAL)
	}
	st, err := f.mount.Statx(p, ceph.StatxBasicStats, 0)
	if err != nil {
		return pathErr("access", name, err)
	}
	if mode == unix.F_OK {
		return nil
	}
	perm := uint32(st.Mode)
	if f.euid == 0 {
		if mode&unix.X_OK != 0 && perm&0o111 == 0 && perm&unix.S_IFMT != unix.S_IFDIR {
			return fs.PathError("access", name, syscall.EACCES)
		}
		return nil
	}
	var bits uint32
	switch {
	case int(st.Uid) == f.euid:
		bits = perm >> 6 & 7
	case int(st.Gid) == f.egid:
		bits = perm >> 3 & 7
	default:
		bits = perm & 7
	}
	if mode&bits != mode {
		return fs.PathError("access", name, syscall.EACCES)
	}
	return nil
}

// Statfs implements fs.Service.
func (f *FS) Statfs(_ context.Context, name string) (fs.Statfs, error) {
	f.nsMu.RLock()
	defer f.nsMu.RUnlock()
	p, err := f.path("statfs", name, true)
	if err != nil {
		return fs.Statfs{}, err
	}
	// libcephfs answers statfs for any path; the name must exist.
	if _, err := f.mount.Statx(p, ceph.StatxMode, 0); err != nil {
		return fs.Statfs{}, pathErr("statfs", name, err)
	}
	s, err := f.mount.StatFS(p)
	if err != nil {
		return fs.Statfs{}, pathErr("statfs", name, err)
	}
	return fs.Statfs{
		Type: cephSuperMagic, Bsize: s.Bsize, Blocks: s.Blocks, Bfree: s.Bfree, Bavail: s.Bavail,
		Files: s.Files, Ffree: s.Ffree, Namelen: nameMax, Frsize: s.Frsize,
	}, nil
}
