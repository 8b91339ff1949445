/*
 * io.c: open, read, write and their variants (plain, *64, FORTIFY, vectored,
 * positional), lseek, close, fsync and friends on library fds.
 */
#include "poly.h"

#include <stdlib.h>
#include <limits.h>
#include <sys/uio.h>

mode_t poly_umask = 022;

#define NEEDS_MODE(fl) (((fl) & O_CREAT) || (((fl) & O_TMPFILE) == O_TMPFILE))

int poly_open_path(struct rpath *rp, int flags, mode_t mode, int min)
{
	int sflags = flags & ~(O_CLOEXEC | O_DIRECT | O_NOCTTY);
	if (sflags & O_PATH) /* no path-only opens in the service: a read-only one */
		sflags = (sflags & ~(O_PATH | O_ACCMODE)) | O_RDONLY;
	uint64_t args[2] = {(uint64_t)(uint32_t)sflags, (uint64_t)(mode & ~poly_umask & 07777)};
	int64_t sfd = poly_pathcall(POLY_CALL_OPEN, rp->inst, rp->name, NULL, args, 2, NULL, 0);
	if (sfd < 0)
		return (int)sfd;
	return lfd_install(-1, min, (uint64_t)sfd, rp->inst, flags & ~(O_CLOEXEC | O_PATH), (flags & O_CLOEXEC) != 0,
			   rp->abs);
}

static int do_openat(int dirfd, const char *path, int flags, mode_t mode)
{
	if (poly_inert())
		return REAL(openat)(dirfd, path, flags, mode);
	struct rpath rp;
	int r = poly_resolve(dirfd, path, &rp);
	if (r < 0)
		return (int)poly_ret(r);
	if (!rp.ours) {
		int fd = REAL(openat)(rp.kdirfd, rp.kpath, flags, mode);
		if (fd >= 0 && rp.have_abs)
			kdir_note(fd, rp.abs);
		return fd;
	}
	return (int)poly_ret(poly_open_path(&rp, flags, mode, -1));
}

#define MODE_ARG(flags)                          \
	mode_t mode = 0;                         \
	if (NEEDS_MODE(flags)) {                 \
		va_list ap;                      \
		va_start(ap, flags);             \
		mode = (mode_t)va_arg(ap, int);  \
		va_end(ap);                      \
	}

POLY_EXPORT int open(const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_openat(AT_FDCWD, path, flags, mode);
}
POLY_EXPORT int open64(const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_openat(AT_FDCWD, path, flags, mode);
}
POLY_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_openat(dirfd, path, flags, mode);
}
POLY_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags);
	return do_openat(dirfd, path, flags, mode);
}
POLY_EXPORT int __open_2(const char *path, int flags) { return do_openat(AT_FDCWD, path, flags, 0); }
POLY_EXPORT int __open64_2(const char *path, int flags) { return do_openat(AT_FDCWD, path, flags, 0); }
POLY_EXPORT int __openat_2(int dirfd, const char *path, int flags) { return do_openat(dirfd, path, flags, 0); }
POLY_EXPORT int __openat64_2(int dirfd, const char *path, int flags) { return do_openat(dirfd, path, flags, 0); }
POLY_EXPORT int creat(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}
POLY_EXPORT int creat64(const char *path, mode_t mode)
{
	return do_openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

POLY_EXPORT int close(int fd)
{
	if (!lfd_get(fd)) {
		kdir_forget(fd);
		return REAL(close)(fd);
	}
	return (int)poly_ret(lfd_close(fd));
}

/* ---- read / write ---- */

ssize_t poly_read_fd(struct lfd *f, void *buf, size_t n)
{
	return poly_rw(POLY_CALL_READ, f->sfd, buf, n, 0);
}

ssize_t poly_write_fd(struct lfd *f, const void *buf, size_t n)
{
	return poly_rw(POLY_CALL_WRITE, f->sfd, (void *)buf, n, 0);
}

POLY_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(read)(fd, buf, n);
	return poly_ret(poly_read_fd(f, buf, n));
}
POLY_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		abort();
	return read(fd, buf, n);
}
POLY_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(write)(fd, buf, n);
	return poly_ret(poly_write_fd(f, buf, n));
}

static ssize_t do_pread(int fd, void *buf, size_t n, off_t off)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(pread)(fd, buf, n, off);
	if (off < 0)
		return poly_ret(-EINVAL);
	return poly_ret(poly_rw(POLY_CALL_PREAD, f->sfd, buf, n, off));
}
static ssize_t do_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(pwrite)(fd, buf, n, off);
	if (off < 0 && !(f->flags & O_APPEND))
		return poly_ret(-EINVAL);
	return poly_ret(poly_rw(POLY_CALL_PWRITE, f->sfd, (void *)buf, n, off));
}
POLY_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off) { return do_pread(fd, buf, n, off); }
POLY_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off_t off) { return do_pread(fd, buf, n, off); }
POLY_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		abort();
	return do_pread(fd, buf, n, off);
}
POLY_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		abort();
	return do_pread(fd, buf, n, off);
}
POLY_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) { return do_pwrite(fd, buf, n, off); }
POLY_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) { return do_pwrite(fd, buf, n, off); }

/* Vectored calls gather into (or scatter from) one bounce buffer. */
static size_t iov_total(const struct iovec *iov, int cnt, int *bad)
{
	size_t t = 0;
	*bad = cnt < 0 || cnt > IOV_MAX;
	for (int i = 0; !*bad && i < cnt; i++) {
		if (t + iov[i].iov_len < t)
			*bad = 1;
		t += iov[i].iov_len;
	}
	return t;
}

static ssize_t vec_read(struct lfd *f, const struct iovec *iov, int cnt, off_t off, int positional)
{
	int bad;
	size_t total = iov_total(iov, cnt, &bad);
	if (bad)
		return -EINVAL;
	if (cnt == 1)
		return poly_rw(positional ? POLY_CALL_PREAD : POLY_CALL_READ, f->sfd, iov[0].iov_base, iov[0].iov_len, off);
	char *b = malloc(total ? total : 1);
	if (!b)
		return -ENOMEM;
	ssize_t n = poly_rw(positional ? POLY_CALL_PREAD : POLY_CALL_READ, f->sfd, b, total, off);
	if (n > 0) {
		size_t left = (size_t)n, at = 0;
		for (int i = 0; i < cnt && left > 0; i++) {
			size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;
			memcpy(iov[i].iov_base, b + at, k);
			at += k;
			left -= k;
		}
	}
	free(b);
	return n;
}

static ssize_t vec_write(struct lfd *f, const struct iovec *iov, int cnt, off_t off, int positional)
{
	int bad;
	size_t total = iov_total(iov, cnt, &bad);
	if (bad)
		return -EINVAL;
	if (cnt == 1)
		return poly_rw(positional ? POLY_CALL_PWRITE : POLY_CALL_WRITE, f->sfd, iov[0].iov_base, iov[0].iov_len,
			       off);
	char *b = malloc(total ? total : 1);
	if (!b)
		return -ENOMEM;
	size_t at = 0;
	for (int i = 0; i < cnt; i++) {
		memcpy(b + at, iov[i].iov_base, iov[i].iov_len);
		at += iov[i].iov_len;
	}
	ssize_t n = poly_rw(positional ? POLY_CALL_PWRITE : POLY_CALL_WRITE, f->sfd, b, total, off);
	free(b);
	return n;
}

POLY_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(readv)(fd, iov, cnt);
	return poly_ret(vec_read(f, iov, cnt, 0, 0));
}
POLY_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(writev)(fd, iov, cnt);
	return poly_ret(vec_write(f, iov, cnt, 0, 0));
}

#define PV(name, rw, realcall)                                                          \
	POLY_EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off)   \
	{                                                                               \
		struct lfd *f = lfd_get(fd);                                            \
		if (!f)                                                                 \
			return realcall;                                                \
		if (off < 0)                                                            \
			return poly_ret(-EINVAL);                                       \
		return poly_ret(rw(f, iov, cnt, off, 1));                               \
	}
PV(preadv, vec_read, REAL(preadv)(fd, iov, cnt, off))
PV(preadv64, vec_read, REAL(preadv64)(fd, iov, cnt, off))
PV(pwritev, vec_write, REAL(pwritev)(fd, iov, cnt, off))
PV(pwritev64, vec_write, REAL(pwritev64)(fd, iov, cnt, off))

#define PV2(name, rw, realcall)                                                                   \
	POLY_EXPORT ssize_t name(int fd, const struct iovec *iov, int cnt, off_t off, int flags)  \
	{                                                                                         \
		struct lfd *f = lfd_get(fd);                                                      \
		if (!f)                                                                           \
			return realcall;                                                          \
		(void)flags; /* RWF_* hints: our path has no page cache to bypass */              \
		if (off == -1)                                                                    \
			return poly_ret(rw(f, iov, cnt, 0, 0));                                   \
		if (off < 0)                                                                      \
			return poly_ret(-EINVAL);                                                 \
		return poly_ret(rw(f, iov, cnt, off, 1));                                         \
	}
PV2(preadv2, vec_read, REAL(preadv2)(fd, iov, cnt, off, flags))
PV2(preadv64v2, vec_read, REAL(preadv64v2)(fd, iov, cnt, off, flags))
PV2(pwritev2, vec_write, REAL(pwritev2)(fd, iov, cnt, off, flags))
PV2(pwritev64v2, vec_write, REAL(pwritev64v2)(fd, iov, cnt, off, flags))

/* ---- lseek ---- */

static off_t do_lseek(int fd, off_t off, int whence)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(lseek)(fd, off, whence);
	if (whence == SEEK_DATA || whence == SEEK_HOLE) {
		/* No holes are reported: data everywhere up to the size. */
		struct stat st;
		int r = poly_fstat_sfd(f->sfd, &st);
		if (r < 0)
			return poly_ret(r);
		if (off < 0 || off >= st.st_size)
			return poly_ret(-ENXIO);
		off_t to = whence == SEEK_DATA ? off : st.st_size;
		return poly_ret(poly_fdcall(POLY_CALL_LSEEK, f->sfd, (uint64_t)to, SEEK_SET, 0, 0));
	}
	return poly_ret(poly_fdcall(POLY_CALL_LSEEK, f->sfd, (uint64_t)off, (uint64_t)(uint32_t)whence, 0, 0));
}
POLY_EXPORT off_t lseek(int fd, off_t off, int whence) { return do_lseek(fd, off, whence); }
POLY_EXPORT off_t lseek64(int fd, off_t off, int whence) { return do_lseek(fd, off, whence); }

/* ---- sync, truncate, allocate, advice ---- */

POLY_EXPORT int fsync(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fsync)(fd);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FSYNC, f->sfd, 0, 0, 0, 0));
}
POLY_EXPORT int fdatasync(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fdatasync)(fd);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FSYNC, f->sfd, 1, 0, 0, 0));
}
POLY_EXPORT int sync_file_range(int fd, off_t off, off_t n, unsigned int flags)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(sync_file_range)(fd, off, n, flags);
	if (off < 0 || n < 0)
		return (int)poly_ret(-EINVAL);
	if (!(flags & SYNC_FILE_RANGE_WRITE))
		return 0;
	return (int)poly_ret(poly_fdcall(POLY_CALL_FSYNC, f->sfd, 1, 0, 0, 0));
}
POLY_EXPORT int syncfs(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(syncfs)(fd);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FSYNC, f->sfd, 0, 0, 0, 0));
}

static int do_ftruncate(int fd, off_t len)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(ftruncate)(fd, len);
	if (len < 0)
		return (int)poly_ret(-EINVAL);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FTRUNCATE, f->sfd, (uint64_t)len, 0, 0, 0));
}
POLY_EXPORT int ftruncate(int fd, off_t len) { return do_ftruncate(fd, len); }
POLY_EXPORT int ftruncate64(int fd, off_t len) { return do_ftruncate(fd, len); }

static int do_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fallocate)(fd, mode, off, len);
	if (off < 0 || len <= 0)
		return (int)poly_ret(-EINVAL);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FALLOCATE, f->sfd, (uint64_t)(uint32_t)mode, (uint64_t)off,
					 (uint64_t)len, 0));
}
POLY_EXPORT int fallocate(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len); }
POLY_EXPORT int fallocate64(int fd, int mode, off_t off, off_t len) { return do_fallocate(fd, mode, off, len); }

/* posix_fallocate returns the error number. When the service cannot
 * allocate (EOPNOTSUPP) it extends the file like glibc's fallback. */
static int do_posix_fallocate(int fd, off_t off, off_t len)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(posix_fallocate)(fd, off, len);
	if (off < 0 || len <= 0)
		return EINVAL;
	int64_t r = poly_fdcall(POLY_CALL_FALLOCATE, f->sfd, 0, (uint64_t)off, (uint64_t)len, 0);
	if (r == -EOPNOTSUPP || r == -ENOSYS) {
		struct stat st;
		r = poly_fstat_sfd(f->sfd, &st);
		if (r == 0 && st.st_size < off + len)
			r = poly_fdcall(POLY_CALL_FTRUNCATE, f->sfd, (uint64_t)(off + len), 0, 0, 0);
	}
	return r < 0 ? (int)-r : 0;
}
POLY_EXPORT int posix_fallocate(int fd, off_t off, off_t len) { return do_posix_fallocate(fd, off, len); }
POLY_EXPORT int posix_fallocate64(int fd, off_t off, off_t len) { return do_posix_fallocate(fd, off, len); }

/* Advice is accepted and ignored on library fds. */
POLY_EXPORT int posix_fadvise(int fd, off_t off, off_t len, int advice)
{
	if (!lfd_get(fd))
		return REAL(posix_fadvise)(fd, off, len, advice);
	return (advice < 0 || advice > 5) ? EINVAL : 0;
}
POLY_EXPORT int posix_fadvise64(int fd, off_t off, off_t len, int advice)
{
	return posix_fadvise(fd, off, len, advice);
}
POLY_EXPORT ssize_t readahead(int fd, off64_t off, size_t n)
{
	if (!lfd_get(fd))
		return REAL(readahead)(fd, off, n);
	return 0;
}
