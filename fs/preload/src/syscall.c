/*
 * syscall.c: the syscall() interposer. Programs and libraries (libaio,
 * stress-ng) that make file calls with syscall() reach the library too:
 * the file-related numbers (read ... statx, getdents64, renameat2,
 * copy_file_range, close_range, ...) go to the library's functions, the
 * Linux aio numbers to linuxaio.c, the others to libc's syscall(). The
 * library's own raw calls never come here (sys.c).
 */
#include "poly.h"

#include <dirent.h>
#include <linux/aio_abi.h>
#include <linux/stat.h>
#include <sys/file.h>
#include <sys/sendfile.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>

extern int stat(const char *, struct stat *);
extern int lstat(const char *, struct stat *);

POLY_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long),
	     e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (poly_inert())
		return REAL(syscall)(nr, a, b, c, d, e, f);
#define P(x) ((void *)(x))
#define S(x) ((const char *)(x))
	switch (nr) {
	case SYS_read: return read((int)a, P(b), (size_t)c);
	case SYS_write: return write((int)a, P(b), (size_t)c);
	case SYS_pread64: return pread((int)a, P(b), (size_t)c, d);
	case SYS_pwrite64: return pwrite((int)a, P(b), (size_t)c, d);
	case SYS_readv: return readv((int)a, P(b), (int)c);
	case SYS_writev: return writev((int)a, P(b), (int)c);
	case SYS_preadv: return preadv((int)a, P(b), (int)c, d);
	case SYS_pwritev: return pwritev((int)a, P(b), (int)c, d);
	case SYS_preadv2: return preadv2((int)a, P(b), (int)c, d, (int)f);
	case SYS_pwritev2: return pwritev2((int)a, P(b), (int)c, d, (int)f);
	case SYS_open: return open(S(a), (int)b, (mode_t)c);
	case SYS_openat: return openat((int)a, S(b), (int)c, (mode_t)d);
	case SYS_creat: return creat(S(a), (mode_t)b);
	case SYS_close: return close((int)a);
	case SYS_stat: return stat(S(a), P(b));
	case SYS_lstat: return lstat(S(a), P(b));
	case SYS_fstat: return fstat((int)a, P(b));
	case SYS_newfstatat: return fstatat((int)a, S(b), P(c), (int)d);
	case SYS_statx: return statx((int)a, S(b), (int)c, (unsigned)d, P(e));
	case SYS_lseek: return lseek((int)a, b, (int)c);
	case SYS_getdents64: return getdents64((int)a, P(b), (size_t)c);
	case SYS_fsync: return fsync((int)a);
	case SYS_fdatasync: return fdatasync((int)a);
	case SYS_sync_file_range: return sync_file_range((int)a, b, c, (unsigned)d);
	case SYS_syncfs: return syncfs((int)a);
	case SYS_ftruncate: return ftruncate((int)a, b);
	case SYS_truncate: return truncate(S(a), b);
	case SYS_fallocate: return fallocate((int)a, (int)b, c, d);
	case SYS_fadvise64: {
		int r = posix_fadvise((int)a, b, c, (int)d);
		return r ? (errno = r, -1) : 0;
	}
	case SYS_readahead: return readahead((int)a, b, (size_t)c);
	case SYS_mkdir: return mkdir(S(a), (mode_t)b);
	case SYS_mkdirat: return mkdirat((int)a, S(b), (mode_t)c);
	case SYS_rmdir: return rmdir(S(a));
	case SYS_unlink: return unlink(S(a));
	case SYS_unlinkat: return unlinkat((int)a, S(b), (int)c);
	case SYS_rename: return rename(S(a), S(b));
	case SYS_renameat: return renameat((int)a, S(b), (int)c, S(d));
	case SYS_renameat2: return renameat2((int)a, S(b), (int)c, S(d), (unsigned)e);
	case SYS_link: return link(S(a), S(b));
	case SYS_linkat: return linkat((int)a, S(b), (int)c, S(d), (int)e);
	case SYS_symlink: return symlink(S(a), S(b));
	case SYS_symlinkat: return symlinkat(S(a), (int)b, S(c));
	case SYS_readlink: return readlink(S(a), P(b), (size_t)c);
	case SYS_readlinkat: return readlinkat((int)a, S(b), P(c), (size_t)d);
	case SYS_chmod: return chmod(S(a), (mode_t)b);
	case SYS_fchmod: return fchmod((int)a, (mode_t)b);
	case SYS_fchmodat: return fchmodat((int)a, S(b), (mode_t)c, 0);
	case SYS_chown: return chown(S(a), (uid_t)b, (gid_t)c);
	case SYS_lchown: return lchown(S(a), (uid_t)b, (gid_t)c);
	case SYS_fchown: return fchown((int)a, (uid_t)b, (gid_t)c);
	case SYS_fchownat: return fchownat((int)a, S(b), (uid_t)c, (gid_t)d, (int)e);
	case SYS_utimensat: return utimensat((int)a, S(b), P(c), (int)d);
	case SYS_access: return access(S(a), (int)b);
	case SYS_faccessat: return faccessat((int)a, S(b), (int)c, 0);
	case SYS_faccessat2: return faccessat((int)a, S(b), (int)c, (int)d);
	case SYS_dup: return dup((int)a);
	case SYS_dup2: return dup2((int)a, (int)b);
	case SYS_dup3: return dup3((int)a, (int)b, (int)c);
	case SYS_fcntl: return fcntl((int)a, (int)b, c);
	case SYS_flock: return flock((int)a, (int)b);
	case SYS_chdir: return chdir(S(a));
	case SYS_fchdir: return fchdir((int)a);
	case SYS_getcwd: {
		char *r = getcwd(P(a), (size_t)b);
		return r ? (long)strlen(r) + 1 : -1;
	}
	case SYS_copy_file_range: return copy_file_range((int)a, P(b), (int)c, P(d), (size_t)e, (unsigned)f);
	case SYS_sendfile: return sendfile((int)a, (int)b, P(c), (size_t)d);
	case SYS_close_range: return close_range((unsigned)a, (unsigned)b, (int)c);
	case SYS_statfs: return statfs(S(a), P(b));
	case SYS_fstatfs: return fstatfs((int)a, P(b));
	case SYS_io_submit: return kaio_submit((aio_context_t)a, b, P(c));
	case SYS_io_getevents: return kaio_getevents(SYS_io_getevents, (aio_context_t)a, b, c, P(d), P(e), NULL);
	case SYS_io_pgetevents: return kaio_getevents(SYS_io_pgetevents, (aio_context_t)a, b, c, P(d), P(e), P(f));
	case SYS_io_destroy: return kaio_destroy((aio_context_t)a);
	}
	return REAL(syscall)(nr, a, b, c, d, e, f);
}
