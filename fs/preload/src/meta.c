/*
 * meta.c: attribute and name calls: the stat family (plain, *64, *at,
 * statx and glibc's old __xstat entry points), access, truncate, mkdir,
 * rmdir, unlink, rename, link, symlink, readlink, chmod, chown, utimes,
 * statfs/statvfs and extended attributes.
 */
#include "poly.h"

#include <linux/stat.h>
#include <sys/sysmacros.h>
#include <stdlib.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <utime.h>

/* PATHOP resolves (dirfd, path) into rp; when the path is not ours it
 * returns KERNEL (which may use rp.kdirfd and rp.kpath). */
#define PATHOP(dirfd, path, KERNEL)                      \
	struct rpath rp;                                 \
	rp.kdirfd = (dirfd);                             \
	rp.kpath = (path);                               \
	if (poly_inert())                                \
		return KERNEL;                           \
	do {                                             \
		int r_ = poly_resolve(dirfd, path, &rp); \
		if (r_ < 0)                              \
			return poly_ret(r_);             \
		if (!rp.ours)                            \
			return KERNEL;                   \
	} while (0)

void poly_stat_to(const struct poly_stat *ps, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_dev = ps->dev;
	st->st_ino = ps->ino;
	st->st_mode = ps->mode;
	st->st_nlink = ps->nlink;
	st->st_uid = ps->uid;
	st->st_gid = ps->gid;
	st->st_rdev = ps->rdev;
	st->st_size = ps->size;
	st->st_blksize = ps->blksize;
	st->st_blocks = ps->blocks;
	st->st_atim.tv_sec = ps->atime_sec;
	st->st_atim.tv_nsec = ps->atime_nsec;
	st->st_mtim.tv_sec = ps->mtime_sec;
	st->st_mtim.tv_nsec = ps->mtime_nsec;
	st->st_ctim.tv_sec = ps->ctime_sec;
	st->st_ctim.tv_nsec = ps->ctime_nsec;
}

int poly_fstat_sfd(uint64_t sfd, struct stat *st)
{
	struct poly_stat ps;
	int64_t r = poly_fdout(POLY_CALL_FSTAT, sfd, &ps, sizeof ps);
	if (r < 0)
		return (int)r;
	if (r < (int64_t)sizeof ps)
		return -EIO;
	poly_stat_to(&ps, st);
	return 0;
}

static int stat_path(struct rpath *rp, struct stat *st, int nofollow)
{
	struct poly_stat ps;
	int64_t r = poly_pathcall(nofollow ? POLY_CALL_LSTAT : POLY_CALL_STAT, rp->inst, rp->name, NULL, NULL, 0, &ps,
				  sizeof ps);
	if (r < 0)
		return (int)r;
	if (r < (int64_t)sizeof ps)
		return -EIO;
	poly_stat_to(&ps, st);
	return 0;
}

static int do_fstat(int fd, struct stat *st)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fstat)(fd, st);
	return (int)poly_ret(poly_fstat_sfd(f->sfd, st));
}

static int do_fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if (path && path[0] == 0 && (flags & AT_EMPTY_PATH) && lfd_get(dirfd))
		return do_fstat(dirfd, st);
	PATHOP(dirfd, path, REAL(fstatat)(rp.kdirfd, rp.kpath, st, flags));
	return (int)poly_ret(stat_path(&rp, st, flags & AT_SYMLINK_NOFOLLOW));
}

POLY_EXPORT int stat(const char *path, struct stat *st) { return do_fstatat(AT_FDCWD, path, st, 0); }
POLY_EXPORT int stat64(const char *path, struct stat64 *st) { return do_fstatat(AT_FDCWD, path, (struct stat *)st, 0); }
POLY_EXPORT int lstat(const char *path, struct stat *st) { return do_fstatat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW); }
POLY_EXPORT int lstat64(const char *path, struct stat64 *st)
{
	return do_fstatat(AT_FDCWD, path, (struct stat *)st, AT_SYMLINK_NOFOLLOW);
}
POLY_EXPORT int fstat(int fd, struct stat *st) { return do_fstat(fd, st); }
POLY_EXPORT int fstat64(int fd, struct stat64 *st) { return do_fstat(fd, (struct stat *)st); }
POLY_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	return do_fstatat(dirfd, path, st, flags);
}
POLY_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return do_fstatat(dirfd, path, (struct stat *)st, flags);
}
/* glibc < 2.33 binaries call these versioned entry points. */
POLY_EXPORT int __xstat(int ver, const char *path, struct stat *st) { (void)ver; return stat(path, st); }
POLY_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st) { (void)ver; return stat64(path, st); }
POLY_EXPORT int __lxstat(int ver, const char *path, struct stat *st) { (void)ver; return lstat(path, st); }
POLY_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st) { (void)ver; return lstat64(path, st); }
POLY_EXPORT int __fxstat(int ver, int fd, struct stat *st) { (void)ver; return fstat(fd, st); }
POLY_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st) { (void)ver; return fstat64(fd, st); }
POLY_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	(void)ver;
	return fstatat(dirfd, path, st, flags);
}
POLY_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	(void)ver;
	return fstatat64(dirfd, path, st, flags);
}

static void to_statx(const struct stat *st, struct statx *sx)
{
	memset(sx, 0, sizeof *sx);
	sx->stx_mask = STATX_BASIC_STATS;
	sx->stx_blksize = (uint32_t)st->st_blksize;
	sx->stx_nlink = (uint32_t)st->st_nlink;
	sx->stx_uid = st->st_uid;
	sx->stx_gid = st->st_gid;
	sx->stx_mode = (uint16_t)st->st_mode;
	sx->stx_ino = st->st_ino;
	sx->stx_size = (uint64_t)st->st_size;
	sx->stx_blocks = (uint64_t)st->st_blocks;
	sx->stx_atime.tv_sec = st->st_atim.tv_sec;
	sx->stx_atime.tv_nsec = (uint32_t)st->st_atim.tv_nsec;
	sx->stx_mtime.tv_sec = st->st_mtim.tv_sec;
	sx->stx_mtime.tv_nsec = (uint32_t)st->st_mtim.tv_nsec;
	sx->stx_ctime.tv_sec = st->st_ctim.tv_sec;
	sx->stx_ctime.tv_nsec = (uint32_t)st->st_ctim.tv_nsec;
	sx->stx_rdev_major = major(st->st_rdev);
	sx->stx_rdev_minor = minor(st->st_rdev);
	sx->stx_dev_major = major(st->st_dev);
	sx->stx_dev_minor = minor(st->st_dev);
}

POLY_EXPORT int statx(int dirfd, const char *path, int flags, unsigned int mask, struct statx *sx)
{
	struct stat st;
	int r;
	if (path && path[0] == 0 && (flags & AT_EMPTY_PATH) && lfd_get(dirfd)) {
		r = poly_fstat_sfd(lfd_get(dirfd)->sfd, &st);
	} else {
		PATHOP(dirfd, path, REAL(statx)(rp.kdirfd, rp.kpath, flags, mask, sx));
		r = stat_path(&rp, &st, flags & AT_SYMLINK_NOFOLLOW);
	}
	if (r < 0)
		return (int)poly_ret(r);
	to_statx(&st, sx);
	return 0;
}

/* ---- access ---- */

static int do_faccessat(int dirfd, const char *path, int mode, int flags)
{
	PATHOP(dirfd, path, REAL(faccessat)(rp.kdirfd, rp.kpath, mode, flags));
	uint64_t a[1] = {(uint64_t)(uint32_t)mode};
	return (int)poly_ret(poly_pathcall(POLY_CALL_ACCESS, rp.inst, rp.name, NULL, a, 1, NULL, 0));
}
POLY_EXPORT int access(const char *path, int mode) { return do_faccessat(AT_FDCWD, path, mode, 0); }
POLY_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	return do_faccessat(dirfd, path, mode, flags);
}
POLY_EXPORT int eaccess(const char *path, int mode) { return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS); }
POLY_EXPORT int euidaccess(const char *path, int mode) { return do_faccessat(AT_FDCWD, path, mode, AT_EACCESS); }

/* ---- truncate ---- */

static int do_truncate(const char *path, off_t len)
{
	PATHOP(AT_FDCWD, path, REAL(truncate)(rp.kpath, len));
	if (len < 0)
		return (int)poly_ret(-EINVAL);
	uint64_t a[1] = {(uint64_t)len};
	return (int)poly_ret(poly_pathcall(POLY_CALL_TRUNCATE, rp.inst, rp.name, NULL, a, 1, NULL, 0));
}
POLY_EXPORT int truncate(const char *path, off_t len) { return do_truncate(path, len); }
POLY_EXPORT int truncate64(const char *path, off_t len) { return do_truncate(path, len); }

/* ---- names ---- */

static int do_mkdirat(int dirfd, const char *path, mode_t mode)
{
	PATHOP(dirfd, path, REAL(mkdirat)(rp.kdirfd, rp.kpath, mode));
	if (rp.name[0] == 0)
		return (int)poly_ret(-EEXIST);
	uint64_t a[1] = {(uint64_t)(mode & ~poly_umask & 07777)};
	return (int)poly_ret(poly_pathcall(POLY_CALL_MKDIR, rp.inst, rp.name, NULL, a, 1, NULL, 0));
}
POLY_EXPORT int mkdir(const char *path, mode_t mode) { return do_mkdirat(AT_FDCWD, path, mode); }
POLY_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode) { return do_mkdirat(dirfd, path, mode); }

static int do_unlinkat(int dirfd, const char *path, int flags)
{
	PATHOP(dirfd, path, REAL(unlinkat)(rp.kdirfd, rp.kpath, flags));
	if (rp.name[0] == 0)
		return (int)poly_ret(-EBUSY);
	uint32_t call = (flags & AT_REMOVEDIR) ? POLY_CALL_RMDIR : POLY_CALL_UNLINK;
	return (int)poly_ret(poly_pathcall(call, rp.inst, rp.name, NULL, NULL, 0, NULL, 0));
}
POLY_EXPORT int unlink(const char *path) { return do_unlinkat(AT_FDCWD, path, 0); }
POLY_EXPORT int unlinkat(int dirfd, const char *path, int flags) { return do_unlinkat(dirfd, path, flags); }
POLY_EXPORT int rmdir(const char *path) { return do_unlinkat(AT_FDCWD, path, AT_REMOVEDIR); }

/* Two-name calls: both names must be in the same instance (else EXDEV). */
static int two_names(uint32_t call, int d1, const char *p1, int d2, const char *p2, uint64_t arg, int *kernel,
		     struct rpath *a, struct rpath *b)
{
	*kernel = 0;
	int r = poly_resolve(d1, p1, a);
	if (r < 0)
		return r;
	r = poly_resolve(d2, p2, b);
	if (r < 0)
		return r;
	if (!a->ours && !b->ours) {
		*kernel = 1;
		return 0;
	}
	*kernel = 0;
	if (a->ours != b->ours || a->inst != b->inst)
		return -EXDEV;
	uint64_t args[1] = {arg};
	return (int)poly_pathcall(call, a->inst, a->name, b->name, args, 1, NULL, 0);
}

POLY_EXPORT int renameat2(int d1, const char *p1, int d2, const char *p2, unsigned int flags)
{
	if (poly_inert())
		return REAL(renameat2)(d1, p1, d2, p2, flags);
	struct rpath *a = malloc(2 * sizeof *a);
	if (!a)
		return (int)poly_ret(-ENOMEM);
	int kernel;
	int r = two_names(POLY_CALL_RENAME, d1, p1, d2, p2, flags, &kernel, a, a + 1);
	if (kernel) {
		r = flags ? REAL(renameat2)(a[0].kdirfd, a[0].kpath, a[1].kdirfd, a[1].kpath, flags)
			  : REAL(renameat)(a[0].kdirfd, a[0].kpath, a[1].kdirfd, a[1].kpath);
		int e = errno;
		free(a);
		errno = e;
		return r;
	}
	free(a);
	return (int)poly_ret(r);
}
POLY_EXPORT int renameat(int d1, const char *p1, int d2, const char *p2) { return renameat2(d1, p1, d2, p2, 0); }
POLY_EXPORT int rename(const char *p1, const char *p2) { return renameat2(AT_FDCWD, p1, AT_FDCWD, p2, 0); }

POLY_EXPORT int linkat(int d1, const char *p1, int d2, const char *p2, int flags)
{
	if (poly_inert())
		return REAL(linkat)(d1, p1, d2, p2, flags);
	struct rpath *a = malloc(2 * sizeof *a);
	if (!a)
		return (int)poly_ret(-ENOMEM);
	int kernel;
	int r = two_names(POLY_CALL_LINK, d1, p1, d2, p2, 0, &kernel, a, a + 1);
	if (kernel) {
		r = REAL(linkat)(a[0].kdirfd, a[0].kpath, a[1].kdirfd, a[1].kpath, flags);
		int e = errno;
		free(a);
		errno = e;
		return r;
	}
	free(a);
	return (int)poly_ret(r);
}
POLY_EXPORT int link(const char *p1, const char *p2) { return linkat(AT_FDCWD, p1, AT_FDCWD, p2, 0); }

POLY_EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	PATHOP(dirfd, path, REAL(symlinkat)(target, rp.kdirfd, rp.kpath));
	if (!target || strlen(target) > POLY_PATH_MAX)
		return (int)poly_ret(target ? -ENAMETOOLONG : -EFAULT);
	if (target[0] == 0)
		return (int)poly_ret(-ENOENT);
	return (int)poly_ret(poly_pathcall(POLY_CALL_SYMLINK, rp.inst, rp.name, target, NULL, 0, NULL, 0));
}
POLY_EXPORT int symlink(const char *target, const char *path) { return symlinkat(target, AT_FDCWD, path); }

POLY_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	PATHOP(dirfd, path, REAL(readlinkat)(rp.kdirfd, rp.kpath, buf, n));
	if (n == 0)
		return poly_ret(-EINVAL);
	char tmp[POLY_PATH_MAX];
	int64_t r = poly_pathcall(POLY_CALL_READLINK, rp.inst, rp.name, NULL, NULL, 0, tmp, sizeof tmp);
	if (r < 0)
		return poly_ret(r);
	size_t k = (size_t)r < n ? (size_t)r : n;
	memcpy(buf, tmp, k);
	return (ssize_t)k;
}
POLY_EXPORT ssize_t readlink(const char *path, char *buf, size_t n) { return readlinkat(AT_FDCWD, path, buf, n); }

/* ---- permissions, owners, times ---- */

static int do_fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	PATHOP(dirfd, path, REAL(fchmodat)(rp.kdirfd, rp.kpath, mode, flags));
	uint64_t a[1] = {mode & 07777};
	return (int)poly_ret(poly_pathcall(POLY_CALL_CHMOD, rp.inst, rp.name, NULL, a, 1, NULL, 0));
}
POLY_EXPORT int chmod(const char *path, mode_t mode) { return do_fchmodat(AT_FDCWD, path, mode, 0); }
POLY_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	return do_fchmodat(dirfd, path, mode, flags);
}
POLY_EXPORT int fchmod(int fd, mode_t mode)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fchmod)(fd, mode);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FCHMOD, f->sfd, mode & 07777, 0, 0, 0));
}

/* at_flags_ok: the flags utimensat and fchownat accept; the kernel fails
 * any other with EINVAL before it looks at the path. */
static int at_flags_ok(int flags)
{
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH)) {
		errno = EINVAL;
		return 0;
	}
	return 1;
}

static int do_fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	if (!at_flags_ok(flags))
		return -1;
	if (path && path[0] == 0 && (flags & AT_EMPTY_PATH) && lfd_get(dirfd))
		return (int)poly_ret(poly_fdcall(POLY_CALL_FCHOWN, lfd_get(dirfd)->sfd, (uint64_t)(int64_t)(int32_t)uid,
						 (uint64_t)(int64_t)(int32_t)gid, 0, 0));
	PATHOP(dirfd, path, REAL(fchownat)(rp.kdirfd, rp.kpath, uid, gid, flags));
	uint64_t a[3] = {(uint64_t)(uint32_t)uid, (uint64_t)(uint32_t)gid,
			 (uint64_t)(flags & AT_SYMLINK_NOFOLLOW)};
	return (int)poly_ret(poly_pathcall(POLY_CALL_CHOWN, rp.inst, rp.name, NULL, a, 3, NULL, 0));
}
POLY_EXPORT int chown(const char *path, uid_t uid, gid_t gid) { return do_fchownat(AT_FDCWD, path, uid, gid, 0); }
POLY_EXPORT int lchown(const char *path, uid_t uid, gid_t gid)
{
	return do_fchownat(AT_FDCWD, path, uid, gid, AT_SYMLINK_NOFOLLOW);
}
POLY_EXPORT int fchownat(int dirfd, const char *path, uid_t uid, gid_t gid, int flags)
{
	return do_fchownat(dirfd, path, uid, gid, flags);
}
POLY_EXPORT int fchown(int fd, uid_t uid, gid_t gid)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fchown)(fd, uid, gid);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FCHOWN, f->sfd, (uint64_t)(uint32_t)uid, (uint64_t)(uint32_t)gid, 0, 0));
}

static void times_args(const struct timespec *ts, uint64_t *a)
{
	if (!ts) {
		a[0] = 0;
		a[1] = UTIME_NOW;
		a[2] = 0;
		a[3] = UTIME_NOW;
		return;
	}
	a[0] = (uint64_t)ts[0].tv_sec;
	a[1] = (uint64_t)ts[0].tv_nsec;
	a[2] = (uint64_t)ts[1].tv_sec;
	a[3] = (uint64_t)ts[1].tv_nsec;
}

static int fd_times(struct lfd *f, const struct timespec *ts)
{
	uint64_t a[4];
	times_args(ts, a);
	return (int)poly_ret(poly_fdcall(POLY_CALL_FUTIMENS, f->sfd, a[0], a[1], a[2], a[3]));
}

POLY_EXPORT int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	if (!at_flags_ok(flags))
		return -1;
	if (!path && lfd_get(dirfd))
		return fd_times(lfd_get(dirfd), ts);
	if (path && path[0] == 0 && (flags & AT_EMPTY_PATH) && lfd_get(dirfd))
		return fd_times(lfd_get(dirfd), ts);
	if (!path)
		return REAL(utimensat)(dirfd, path, ts, flags);
	PATHOP(dirfd, path, REAL(utimensat)(rp.kdirfd, rp.kpath, ts, flags));
	uint64_t a[5];
	times_args(ts, a);
	a[4] = (uint64_t)(flags & AT_SYMLINK_NOFOLLOW);
	return (int)poly_ret(poly_pathcall(POLY_CALL_UTIMENS, rp.inst, rp.name, NULL, a, 5, NULL, 0));
}
POLY_EXPORT int futimens(int fd, const struct timespec ts[2])
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(futimens)(fd, ts);
	return fd_times(f, ts);
}

static const struct timespec *tv_to_ts(const struct timeval *tv, struct timespec *ts)
{
	if (!tv)
		return NULL;
	for (int i = 0; i < 2; i++) {
		ts[i].tv_sec = tv[i].tv_sec;
		ts[i].tv_nsec = tv[i].tv_usec * 1000;
	}
	return ts;
}
POLY_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	return utimensat(AT_FDCWD, path, tv_to_ts(tv, ts), 0);
}
POLY_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	return utimensat(AT_FDCWD, path, tv_to_ts(tv, ts), AT_SYMLINK_NOFOLLOW);
}
POLY_EXPORT int futimes(int fd, const struct timeval tv[2])
{
	struct timespec ts[2];
	if (!lfd_get(fd))
		return REAL(futimes)(fd, tv);
	return futimens(fd, tv_to_ts(tv, ts));
}
POLY_EXPORT int futimesat(int dirfd, const char *path, const struct timeval tv[2])
{
	struct timespec ts[2];
	return utimensat(dirfd, path, tv_to_ts(tv, ts), 0);
}
POLY_EXPORT int utime(const char *path, const struct utimbuf *ub)
{
	struct timespec ts[2];
	if (!ub)
		return utimensat(AT_FDCWD, path, NULL, 0);
	ts[0].tv_sec = ub->actime;
	ts[0].tv_nsec = 0;
	ts[1].tv_sec = ub->modtime;
	ts[1].tv_nsec = 0;
	return utimensat(AT_FDCWD, path, ts, 0);
}

/* ---- statfs ---- */

static int statfs_poly(struct poly_statfs *ps, struct statfs *sf)
{
	memset(sf, 0, sizeof *sf);
	sf->f_type = ps->type;
	sf->f_bsize = ps->bsize;
	sf->f_blocks = ps->blocks;
	sf->f_bfree = ps->bfree;
	sf->f_bavail = ps->bavail;
	sf->f_files = ps->files;
	sf->f_ffree = ps->ffree;
	sf->f_namelen = ps->namelen;
	sf->f_frsize = ps->frsize ? ps->frsize : ps->bsize;
	return 0;
}

static int get_statfs(int fd, const char *path, struct statfs *sf, int *ro)
{
	struct poly_statfs ps;
	int64_t r;
	*ro = 0;
	if (path == NULL) {
		struct lfd *f = lfd_get(fd);
		r = poly_fdout(POLY_CALL_FSTATFS, f->sfd, &ps, sizeof ps);
	} else {
		struct rpath rp;
		int e = poly_resolve(AT_FDCWD, path, &rp);
		if (e < 0)
			return e;
		*ro = rp.readonly;
		r = poly_pathcall(POLY_CALL_STATFS, rp.inst, rp.name, NULL, NULL, 0, &ps, sizeof ps);
	}
	if (r < 0)
		return (int)r;
	if (r < (int64_t)sizeof ps)
		return -EIO;
	return statfs_poly(&ps, sf);
}

static void statfs_to_vfs(const struct statfs *sf, int ro, struct statvfs *sv)
{
	memset(sv, 0, sizeof *sv);
	sv->f_bsize = (unsigned long)sf->f_bsize;
	sv->f_frsize = (unsigned long)sf->f_frsize;
	sv->f_blocks = sf->f_blocks;
	sv->f_bfree = sf->f_bfree;
	sv->f_bavail = sf->f_bavail;
	sv->f_files = sf->f_files;
	sv->f_ffree = sf->f_ffree;
	sv->f_favail = sf->f_ffree;
	sv->f_namemax = (unsigned long)sf->f_namelen;
	sv->f_flag = ro ? ST_RDONLY : 0;
}

static int our_path(const char *path)
{
	struct rpath rp;
	return (poly_active && poly_resolve(AT_FDCWD, path, &rp) == 0 && rp.ours) || poly_refused(path);
}

POLY_EXPORT int statfs(const char *path, struct statfs *sf)
{
	int ro;
	if (!our_path(path))
		return REAL(statfs)(path, sf);
	return (int)poly_ret(get_statfs(-1, path, sf, &ro));
}
POLY_EXPORT int statfs64(const char *path, struct statfs64 *sf) { return statfs(path, (struct statfs *)sf); }
POLY_EXPORT int fstatfs(int fd, struct statfs *sf)
{
	int ro;
	if (!lfd_get(fd))
		return REAL(fstatfs)(fd, sf);
	return (int)poly_ret(get_statfs(fd, NULL, sf, &ro));
}
POLY_EXPORT int fstatfs64(int fd, struct statfs64 *sf) { return fstatfs(fd, (struct statfs *)sf); }
POLY_EXPORT int statvfs(const char *path, struct statvfs *sv)
{
	struct statfs sf;
	int ro;
	if (!our_path(path))
		return REAL(statvfs)(path, sv);
	int r = get_statfs(-1, path, &sf, &ro);
	if (r < 0)
		return (int)poly_ret(r);
	statfs_to_vfs(&sf, ro, sv);
	return 0;
}
POLY_EXPORT int statvfs64(const char *path, struct statvfs64 *sv) { return statvfs(path, (struct statvfs *)sv); }
POLY_EXPORT int fstatvfs(int fd, struct statvfs *sv)
{
	struct statfs sf;
	int ro;
	if (!lfd_get(fd))
		return REAL(fstatvfs)(fd, sv);
	int r = get_statfs(fd, NULL, &sf, &ro);
	if (r < 0)
		return (int)poly_ret(r);
	statfs_to_vfs(&sf, ro, sv);
	return 0;
}
POLY_EXPORT int fstatvfs64(int fd, struct statvfs64 *sv) { return fstatvfs(fd, (struct statvfs *)sv); }

/* ---- extended attributes (by path; fd forms use the fd's path) ---- */

static ssize_t xattr_get(const char *path, int nofollow, const char *name, void *val, size_t size, int list)
{
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0)
		return r;
	(void)nofollow;
	uint64_t a[1] = {size};
	size_t cap = size ? size : 65536;
	char *tmp = malloc(cap);
	if (!tmp)
		return -ENOMEM;
	int64_t n = poly_pathcall(list ? POLY_CALL_LISTXATTR : POLY_CALL_GETXATTR, rp.inst, rp.name, list ? NULL : name,
				  a, 1, tmp, cap);
	if (n > 0 && size)
		memcpy(val, tmp, (size_t)n);
	free(tmp);
	return n;
}

#define XGET(fn, nofollow, KERNEL)                                                              \
	POLY_EXPORT ssize_t fn(const char *path, const char *name, void *val, size_t size)      \
	{                                                                                       \
		if (!our_path(path))                                                            \
			return KERNEL;                                                          \
		return poly_ret(xattr_get(path, nofollow, name, val, size, 0));                 \
	}
XGET(getxattr, 0, REAL(getxattr)(path, name, val, size))
XGET(lgetxattr, 1, REAL(lgetxattr)(path, name, val, size))
POLY_EXPORT ssize_t fgetxattr(int fd, const char *name, void *val, size_t size)
{
	struct lfd *f = lfd_get(fd);
	if (!f || !f->path)
		return REAL(fgetxattr)(fd, name, val, size);
	return poly_ret(xattr_get(f->path, 0, name, val, size, 0));
}
POLY_EXPORT ssize_t listxattr(const char *path, char *list, size_t size)
{
	if (!our_path(path))
		return REAL(listxattr)(path, list, size);
	return poly_ret(xattr_get(path, 0, NULL, list, size, 1));
}
POLY_EXPORT ssize_t llistxattr(const char *path, char *list, size_t size)
{
	if (!our_path(path))
		return REAL(llistxattr)(path, list, size);
	return poly_ret(xattr_get(path, 1, NULL, list, size, 1));
}
POLY_EXPORT ssize_t flistxattr(int fd, char *list, size_t size)
{
	struct lfd *f = lfd_get(fd);
	if (!f || !f->path)
		return REAL(flistxattr)(fd, list, size);
	return poly_ret(xattr_get(f->path, 0, NULL, list, size, 1));
}

static int xattr_set(const char *path, const char *name, const void *val, size_t size, int flags, int remove)
{
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0)
		return r;
	struct pcall c;
	r = pc_begin(&c, remove ? POLY_CALL_REMOVEXATTR : POLY_CALL_SETXATTR);
	if (r < 0)
		return r;
	c.d->instance = rp.inst;
	c.d->args[0] = (uint64_t)(uint32_t)flags;
	if ((r = pc_path(&c, rp.name)) < 0 || (r = pc_path2(&c, name)) < 0 ||
	    (!remove && (r = pc_put(&c, val, size, &c.d->data_off, &c.d->data_len)) < 0)) {
		pc_end(&c);
		return r == -ENAMETOOLONG ? -E2BIG : r;
	}
	int64_t ret = pc_do(&c);
	if (!poly_dead)
		pc_end(&c);
	return (int)ret;
}
POLY_EXPORT int setxattr(const char *path, const char *name, const void *val, size_t size, int flags)
{
	if (!our_path(path))
		return REAL(setxattr)(path, name, val, size, flags);
	return (int)poly_ret(xattr_set(path, name, val, size, flags, 0));
}
POLY_EXPORT int lsetxattr(const char *path, const char *name, const void *val, size_t size, int flags)
{
	if (!our_path(path))
		return REAL(lsetxattr)(path, name, val, size, flags);
	return (int)poly_ret(xattr_set(path, name, val, size, flags, 0));
}
POLY_EXPORT int fsetxattr(int fd, const char *name, const void *val, size_t size, int flags)
{
	struct lfd *f = lfd_get(fd);
	if (!f || !f->path)
		return REAL(fsetxattr)(fd, name, val, size, flags);
	return (int)poly_ret(xattr_set(f->path, name, val, size, flags, 0));
}
POLY_EXPORT int removexattr(const char *path, const char *name)
{
	if (!our_path(path))
		return REAL(removexattr)(path, name);
	return (int)poly_ret(xattr_set(path, name, NULL, 0, 0, 1));
}
POLY_EXPORT int lremovexattr(const char *path, const char *name)
{
	if (!our_path(path))
		return REAL(lremovexattr)(path, name);
	return (int)poly_ret(xattr_set(path, name, NULL, 0, 0, 1));
}
POLY_EXPORT int fremovexattr(int fd, const char *name)
{
	struct lfd *f = lfd_get(fd);
	if (!f || !f->path)
		return REAL(fremovexattr)(fd, name);
	return (int)poly_ret(xattr_set(f->path, name, NULL, 0, 0, 1));
}
