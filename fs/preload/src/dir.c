/*
 * dir.c: directory streams over library fds (our own DIR, told apart from
 * glibc's by a magic first word that no valid fd can equal), getdents64,
 * the working directory (chdir, fchdir, getcwd) and realpath.
 */
#include "poly.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>

#define PDIR_MAGIC 0x7a5a5a5a /* > 2^30: never a glibc DIR's fd */
#define PDIR_BUF 32768

struct pdir {
	int magic;
	int fd;
	pthread_mutex_t mu;
	size_t len, pos;
	long loc; /* entries returned since the start (telldir) */
	int eof;
	struct dirent64 ent;
	char buf[PDIR_BUF];
};

int poly_is_our_dir(void *dirp)
{
	return dirp && ((struct pdir *)dirp)->magic == PDIR_MAGIC;
}

static DIR *make_dir(int fd)
{
	struct pdir *d = calloc(1, sizeof *d);
	if (!d)
		return NULL;
	d->magic = PDIR_MAGIC;
	d->fd = fd;
	pthread_mutex_init(&d->mu, NULL);
	return (DIR *)d;
}

POLY_EXPORT DIR *opendir(const char *path)
{
	if (poly_inert())
		return REAL(opendir)(path);
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!rp.ours) {
		DIR *d = REAL(opendir)(rp.kpath);
		if (d && rp.have_abs)
			kdir_note(REAL(dirfd)(d), rp.abs);
		return d;
	}
	int fd = poly_open_path(&rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, -1);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	DIR *d = make_dir(fd);
	if (!d) {
		lfd_close(fd);
		errno = ENOMEM;
	}
	return d;
}

POLY_EXPORT DIR *fdopendir(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fdopendir)(fd);
	struct stat st;
	int r = poly_fstat_sfd(f->sfd, &st);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return NULL;
	}
	DIR *d = make_dir(fd);
	if (!d)
		errno = ENOMEM;
	return d;
}

/* next_entry returns the next record, refilling the buffer with GETDENTS. */
static struct dirent64 *next_entry(struct pdir *d, int *err)
{
	*err = 0;
	for (;;) {
		if (d->pos < d->len) {
			char *rec = d->buf + d->pos;
			struct poly_dirent64 *pe = (struct poly_dirent64 *)rec;
			uint16_t rl = pe->reclen;
			if (rl < POLY_DIRENT_NAME_OFFSET + 1 || d->pos + rl > d->len) {
				*err = EIO;
				d->pos = d->len;
				return NULL;
			}
			d->pos += rl;
			d->ent.d_ino = pe->ino;
			d->ent.d_off = pe->off;
			d->ent.d_type = pe->type;
			size_t nl = strnlen(rec + POLY_DIRENT_NAME_OFFSET, rl - POLY_DIRENT_NAME_OFFSET);
			if (nl > 255)
				nl = 255;
			memcpy(d->ent.d_name, rec + POLY_DIRENT_NAME_OFFSET, nl);
			d->ent.d_name[nl] = 0;
			d->ent.d_reclen = sizeof d->ent;
			d->loc++;
			return &d->ent;
		}
		if (d->eof)
			return NULL;
		struct lfd *f = lfd_get(d->fd);
		if (!f) {
			*err = EBADF;
			return NULL;
		}
		uint64_t dots = POLY_GETDENTS_DOTS;
		int64_t n = poly_fdargs(POLY_CALL_GETDENTS, f->sfd, &dots, 1, d->buf, sizeof d->buf);
		if (n < 0) {
			*err = (int)-n;
			return NULL;
		}
		if (n == 0) {
			d->eof = 1;
			return NULL;
		}
		d->len = (size_t)n;
		d->pos = 0;
	}
}

POLY_EXPORT struct dirent64 *readdir64(DIR *dirp)
{
	if (!poly_is_our_dir(dirp))
		return REAL(readdir64)(dirp);
	struct pdir *d = (struct pdir *)dirp;
	int err;
	int saved = errno;
	pthread_mutex_lock(&d->mu);
	struct dirent64 *e = next_entry(d, &err);
	pthread_mutex_unlock(&d->mu);
	errno = err ? err : saved;
	return e;
}

POLY_EXPORT struct dirent *readdir(DIR *dirp)
{
	if (!poly_is_our_dir(dirp))
		return REAL(readdir)(dirp);
	return (struct dirent *)readdir64(dirp);
}

POLY_EXPORT int readdir64_r(DIR *dirp, struct dirent64 *entry, struct dirent64 **result)
{
	if (!poly_is_our_dir(dirp))
		return REAL(readdir64_r)(dirp, entry, result);
	struct pdir *d = (struct pdir *)dirp;
	int err;
	pthread_mutex_lock(&d->mu);
	struct dirent64 *e = next_entry(d, &err);
	if (e) {
		memcpy(entry, e, sizeof *e);
		*result = entry;
	} else {
		*result = NULL;
	}
	pthread_mutex_unlock(&d->mu);
	return err;
}

POLY_EXPORT int readdir_r(DIR *dirp, struct dirent *entry, struct dirent **result)
{
	if (!poly_is_our_dir(dirp))
		return REAL(readdir_r)(dirp, entry, result);
	return readdir64_r(dirp, (struct dirent64 *)entry, (struct dirent64 **)result);
}

POLY_EXPORT int closedir(DIR *dirp)
{
	if (!poly_is_our_dir(dirp)) {
		if (dirp)
			kdir_forget(REAL(dirfd)(dirp));
		return REAL(closedir)(dirp);
	}
	struct pdir *d = (struct pdir *)dirp;
	int fd = d->fd;
	d->magic = 0;
	free(d);
	return (int)poly_ret(lfd_close(fd));
}

POLY_EXPORT int dirfd(DIR *dirp)
{
	if (!poly_is_our_dir(dirp))
		return REAL(dirfd)(dirp);
	return ((struct pdir *)dirp)->fd;
}

POLY_EXPORT void rewinddir(DIR *dirp)
{
	if (!poly_is_our_dir(dirp)) {
		REAL(rewinddir)(dirp);
		return;
	}
	struct pdir *d = (struct pdir *)dirp;
	pthread_mutex_lock(&d->mu);
	struct lfd *f = lfd_get(d->fd);
	if (f)
		poly_fdcall(POLY_CALL_LSEEK, f->sfd, 0, SEEK_SET, 0, 0);
	d->len = d->pos = 0;
	d->eof = 0;
	d->loc = 0;
	pthread_mutex_unlock(&d->mu);
}

POLY_EXPORT long telldir(DIR *dirp)
{
	if (!poly_is_our_dir(dirp))
		return REAL(telldir)(dirp);
	return ((struct pdir *)dirp)->loc;
}

/* seekdir goes back to the start and skips loc entries. */
POLY_EXPORT void seekdir(DIR *dirp, long loc)
{
	if (!poly_is_our_dir(dirp)) {
		REAL(seekdir)(dirp, loc);
		return;
	}
	rewinddir(dirp);
	struct pdir *d = (struct pdir *)dirp;
	int err;
	pthread_mutex_lock(&d->mu);
	while (d->loc < loc && next_entry(d, &err))
		;
	pthread_mutex_unlock(&d->mu);
}

static int scan(const char *path, struct dirent64 ***list, int (*filter)(const struct dirent64 *),
		int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	struct dirent64 **v = NULL, *e;
	size_t n = 0, cap = 0;
	while ((e = readdir64(d))) {
		if (filter && !filter(e))
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			struct dirent64 **nv = realloc(v, cap * sizeof *v);
			if (!nv)
				goto fail;
			v = nv;
		}
		v[n] = malloc(sizeof *e);
		if (!v[n])
			goto fail;
		memcpy(v[n++], e, sizeof *e);
	}
	closedir(d);
	if (cmp && n > 1)
		qsort(v, n, sizeof *v, (int (*)(const void *, const void *))cmp);
	*list = v;
	return (int)n;
fail:
	while (n > 0)
		free(v[--n]);
	free(v);
	closedir(d);
	errno = ENOMEM;
	return -1;
}

static int path_is_ours(const char *path)
{
	struct rpath rp;
	return (poly_active && path && poly_resolve(AT_FDCWD, path, &rp) == 0 && rp.ours) || poly_refused(path);
}

POLY_EXPORT int scandir64(const char *path, struct dirent64 ***list, int (*filter)(const struct dirent64 *),
			  int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	if (!path_is_ours(path))
		return REAL(scandir64)(path, list, filter, cmp);
	return scan(path, list, filter, cmp);
}

POLY_EXPORT int scandir(const char *path, struct dirent ***list, int (*filter)(const struct dirent *),
			int (*cmp)(const struct dirent **, const struct dirent **))
{
	if (!path_is_ours(path))
		return REAL(scandir)(path, list, filter, cmp);
	return scan(path, (struct dirent64 ***)list, (int (*)(const struct dirent64 *))filter,
		    (int (*)(const struct dirent64 **, const struct dirent64 **))cmp);
}

POLY_EXPORT ssize_t getdents64(int fd, void *buf, size_t n)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(getdents64)(fd, buf, n);
	if (n > poly_data_size)
		n = poly_data_size;
	uint64_t dots = POLY_GETDENTS_DOTS;
	return poly_ret(poly_fdargs(POLY_CALL_GETDENTS, f->sfd, &dots, 1, buf, n));
}

/* ---- working directory ---- */

POLY_EXPORT int chdir(const char *path)
{
	if (poly_inert())
		return REAL(chdir)(path);
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0)
		return (int)poly_ret(r);
	if (!rp.ours) {
		if (REAL(chdir)(rp.kpath) < 0)
			return -1;
		poly_cwd_init(NULL);
		return 0;
	}
	struct poly_stat ps;
	int64_t n = poly_pathcall(POLY_CALL_STAT, rp.inst, rp.name, NULL, NULL, 0, &ps, sizeof ps);
	if (n < 0)
		return (int)poly_ret(n);
	if (!S_ISDIR(ps.mode))
		return (int)poly_ret(-ENOTDIR);
	/* Keep the kernel's cwd on the mount path when it exists on the host,
	 * so what the library does not see still resolves sensibly. */
	int e = errno;
	REAL(chdir)(rp.abs);
	errno = e;
	poly_set_cwd(rp.abs);
	return 0;
}

POLY_EXPORT int fchdir(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f) {
		if (REAL(fchdir)(fd) < 0)
			return -1;
		if (poly_active)
			poly_cwd_init(NULL);
		return 0;
	}
	if (!f->path)
		return (int)poly_ret(-ENOTDIR);
	return chdir(f->path);
}

POLY_EXPORT char *getcwd(char *buf, size_t size)
{
	if (!poly_active)
		return REAL(getcwd)(buf, size);
	pthread_mutex_lock(&poly_cwd_mu);
	int ours = poly_cwd_ours;
	char cwd[POLY_PATH_MAX + 2];
	strcpy(cwd, poly_cwd);
	pthread_mutex_unlock(&poly_cwd_mu);
	if (!ours)
		return REAL(getcwd)(buf, size);
	size_t n = strlen(cwd) + 1;
	if (!buf) {
		size_t cap = size ? size : n;
		if (cap < n) {
			errno = ERANGE;
			return NULL;
		}
		buf = malloc(cap);
		if (!buf) {
			errno = ENOMEM;
			return NULL;
		}
	} else if (size == 0) {
		errno = EINVAL;
		return NULL;
	} else if (size < n) {
		errno = ERANGE;
		return NULL;
	}
	memcpy(buf, cwd, n);
	return buf;
}

POLY_EXPORT char *get_current_dir_name(void)
{
	if (!poly_active || !poly_cwd_ours)
		return REAL(get_current_dir_name)();
	return getcwd(NULL, 0);
}

/* realpath of our paths: the lexically cleaned absolute path, which must
 * exist; a final symlink is followed (targets are taken inside the same
 * namespace). Intermediate symlinks are not expanded. */
POLY_EXPORT char *realpath(const char *path, char *resolved)
{
	if (!poly_active || !path)
		return REAL(realpath)(path, resolved);
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!rp.ours)
		return REAL(realpath)(rp.kpath, resolved);
	char cur[POLY_PATH_MAX + 2];
	strcpy(cur, rp.abs);
	for (int hops = 0;; hops++) {
		struct poly_stat ps;
		uint32_t inst;
		const char *name;
		if (!poly_match(cur, &inst, &name, NULL))
			return REAL(realpath)(cur, resolved);
		int64_t n = poly_pathcall(POLY_CALL_LSTAT, inst, name, NULL, NULL, 0, &ps, sizeof ps);
		if (n < 0) {
			errno = (int)-n;
			return NULL;
		}
		if (!S_ISLNK(ps.mode))
			break;
		if (hops >= 40) {
			errno = ELOOP;
			return NULL;
		}
		char target[POLY_PATH_MAX + 1];
		n = poly_pathcall(POLY_CALL_READLINK, inst, name, NULL, NULL, 0, target, POLY_PATH_MAX);
		if (n < 0) {
			errno = (int)-n;
			return NULL;
		}
		target[n] = 0;
		char dir[POLY_PATH_MAX + 2];
		strcpy(dir, cur);
		char *slash = strrchr(dir, '/');
		if (slash == dir)
			dir[1] = 0;
		else if (slash)
			*slash = 0;
		if (poly_clean(cur, sizeof cur, dir, target) < 0) {
			errno = ENAMETOOLONG;
			return NULL;
		}
	}
	size_t n = strlen(cur) + 1;
	if (n > PATH_MAX) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	if (!resolved) {
		resolved = malloc(n);
		if (!resolved) {
			errno = ENOMEM;
			return NULL;
		}
	}
	memcpy(resolved, cur, n);
	return resolved;
}

POLY_EXPORT char *__realpath_chk(const char *path, char *resolved, size_t resolvedlen)
{
	if (resolvedlen < PATH_MAX)
		abort();
	return realpath(path, resolved);
}

POLY_EXPORT char *canonicalize_file_name(const char *path)
{
	return realpath(path, NULL);
}
