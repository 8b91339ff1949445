/*
 * fdtab.c: library fds. A library fd is a number the kernel reserved for
 * us: an O_PATH descriptor of /dev/null sits on it, so the kernel never
 * hands the number out again, exec closes it when it is close-on-exec, fork
 * copies it, and a call the library does not intercept fails with EBADF
 * instead of touching some other file. The table maps the number to the
 * service fd (the service open file, shared offset) and its flags; each
 * table entry holds one service reference. The paths of kernel directory
 * fds above mounts are kept here too (kdir_*), beside the library fds.
 */
#include "poly.h"

#include <stdlib.h>

static struct lfd table[POLY_MAX_FDS];
static pthread_mutex_t tab_mu = PTHREAD_MUTEX_INITIALIZER;
int poly_nfds_hint; /* number of used entries */

/* std_watcher is told when fd 0, 1 or 2 changes owner (stdio.c registers
 * poly_std_update before any fd is installed), so the standard streams
 * follow the fd without fdtab.c calling up into the interposers. */
static void (*std_watcher)(int fd);

void lfd_watch_std(void (*changed)(int fd)) { std_watcher = changed; }

static void std_changed(int fd)
{
	if (fd <= 2 && std_watcher)
		std_watcher(fd);
}

void lfd_lock(void) { pthread_mutex_lock(&tab_mu); }
void lfd_unlock(void) { pthread_mutex_unlock(&tab_mu); }

struct lfd *lfd_get(int fd)
{
	if (fd < 0 || fd >= POLY_MAX_FDS || !__atomic_load_n(&poly_nfds_hint, __ATOMIC_RELAXED))
		return NULL;
	struct lfd *f = &table[fd];
	return __atomic_load_n(&f->used, __ATOMIC_ACQUIRE) ? f : NULL;
}

int lfd_count(void) { return poly_nfds_hint; }

/* lfd_placeholder reserves a kernel fd >= min (min < 0: the lowest free). */
int lfd_placeholder(int min, int cloexec)
{
	int fd = REAL(open)("/dev/null", O_PATH | (cloexec ? O_CLOEXEC : 0));
	if (fd < 0)
		return -errno;
	if (min >= 0 && fd < min) {
		int nfd = REAL(fcntl)(fd, cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, min);
		int e = errno;
		REAL(close)(fd);
		if (nfd < 0)
			return -e;
		fd = nfd;
	}
	if (fd >= POLY_MAX_FDS) {
		REAL(close)(fd);
		return -EMFILE;
	}
	return fd;
}

/* lfd_install_at fills entry fd (its placeholder exists). */
int lfd_install_at(int fd, uint64_t sfd, uint32_t inst, int flags, int cloexec, const char *path)
{
	if (fd < 0 || fd >= POLY_MAX_FDS)
		return -EMFILE;
	kdir_forget(fd);
	char *p = path ? strdup(path) : NULL;
	pthread_mutex_lock(&tab_mu);
	struct lfd *f = &table[fd];
	char *old = NULL;
	if (f->used)
		old = f->path;
	else
		poly_nfds_hint++;
	f->sfd = sfd;
	f->inst = inst;
	f->flags = flags & ~O_CLOEXEC;
	f->cloexec = cloexec;
	f->path = p;
	__atomic_store_n(&f->used, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&tab_mu);
	free(old);
	std_changed(fd);
	return fd;
}

/* lfd_install reserves a number and installs sfd; on failure the service
 * reference is dropped. want >= 0 asks for exactly that number (dup2). */
int lfd_install(int want, int min, uint64_t sfd, uint32_t inst, int flags, int cloexec, const char *path)
{
	int fd = lfd_placeholder(min, cloexec);
	if (fd < 0) {
		poly_fdcall(POLY_CALL_CLOSE, sfd, 0, 0, 0, 0);
		return fd;
	}
	(void)want;
	return lfd_install_at(fd, sfd, inst, flags, cloexec, path);
}

void lfd_forget(int fd)
{
	if (fd < 0 || fd >= POLY_MAX_FDS)
		return;
	pthread_mutex_lock(&tab_mu);
	struct lfd *f = &table[fd];
	char *old = NULL;
	if (f->used) {
		old = f->path;
		f->path = NULL;
		__atomic_store_n(&f->used, 0, __ATOMIC_RELEASE);
		poly_nfds_hint--;
	}
	pthread_mutex_unlock(&tab_mu);
	free(old);
}

/* lfd_close closes library fd fd: the service reference and the
 * placeholder. */
int lfd_close(int fd)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return -EBADF;
	uint64_t sfd = f->sfd;
	lfd_forget(fd);
	REAL(close)(fd);
	int64_t r = poly_fdcall(POLY_CALL_CLOSE, sfd, 0, 0, 0, 0);
	std_changed(fd);
	return r < 0 ? (int)r : 0;
}

/* lfd_dup duplicates library fd oldfd: newfd >= 0 is dup2/dup3 (newfd is
 * closed first, whoever owns it), else the lowest number >= min. */
int lfd_dup(int oldfd, int newfd, int min, int cloexec)
{
	struct lfd *f = lfd_get(oldfd);
	if (!f)
		return -EBADF;
	uint64_t sfd = f->sfd;
	uint32_t inst = f->inst;
	int flags = f->flags;
	char *path = f->path ? strdup(f->path) : NULL;
	int64_t r = poly_fdcall(POLY_CALL_DUP, sfd, 0, 0, 0, 0);
	if (r < 0) {
		free(path);
		return (int)r;
	}
	int fd;
	if (newfd >= 0) {
		if (newfd >= POLY_MAX_FDS) {
			poly_fdcall(POLY_CALL_CLOSE, sfd, 0, 0, 0, 0);
			free(path);
			return -EBADF;
		}
		if (lfd_get(newfd)) {
			uint64_t old = lfd_get(newfd)->sfd;
			lfd_forget(newfd);
			poly_fdcall(POLY_CALL_CLOSE, old, 0, 0, 0, 0);
		}
		/* A standard stream's buffered output belongs to the old fd. */
		if (newfd == 1 || newfd == 2)
			fflush(newfd == 1 ? stdout : stderr);
		/* dup3 onto newfd: the kernel closes whatever was there. */
		int ph = REAL(open)("/dev/null", O_PATH | O_CLOEXEC);
		int ok = ph >= 0;
		if (ok && ph == newfd) /* newfd was free: the placeholder got it */
			ok = cloexec || REAL(fcntl)(ph, F_SETFD, 0) == 0;
		else if (ok)
			ok = REAL(dup3)(ph, newfd, cloexec ? O_CLOEXEC : 0) >= 0;
		if (!ok) {
			int e = errno;
			if (ph >= 0 && ph != newfd)
				REAL(close)(ph);
			poly_fdcall(POLY_CALL_CLOSE, sfd, 0, 0, 0, 0);
			free(path);
			return -e;
		}
		if (ph != newfd)
			REAL(close)(ph);
		fd = lfd_install_at(newfd, sfd, inst, flags, cloexec, path);
	} else {
		fd = lfd_install(-1, min, sfd, inst, flags, cloexec, path);
	}
	free(path);
	return fd;
}

/* ---- kernel directory fds above mounts: their paths (kdir_note in path.c
 * decides which fds are noted) ---- */

static char *kdirs[POLY_MAX_FDS];
static int nkdirs;
static pthread_mutex_t kdir_mu = PTHREAD_MUTEX_INITIALIZER;

void kdir_set(int fd, const char *abs)
{
	if (fd < 0 || fd >= POLY_MAX_FDS)
		return;
	char *p = strdup(abs);
	pthread_mutex_lock(&kdir_mu);
	if (!kdirs[fd])
		nkdirs++;
	free(kdirs[fd]);
	kdirs[fd] = p;
	pthread_mutex_unlock(&kdir_mu);
}

void kdir_forget(int fd)
{
	if (fd < 0 || fd >= POLY_MAX_FDS || !__atomic_load_n(&nkdirs, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&kdir_mu);
	if (kdirs[fd]) {
		free(kdirs[fd]);
		kdirs[fd] = NULL;
		nkdirs--;
	}
	pthread_mutex_unlock(&kdir_mu);
}

void kdir_copy(int from, int to)
{
	if (from < 0 || from >= POLY_MAX_FDS || to < 0 || to >= POLY_MAX_FDS ||
	    !__atomic_load_n(&nkdirs, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&kdir_mu);
	char *p = kdirs[from] ? strdup(kdirs[from]) : NULL;
	if (kdirs[to]) {
		free(kdirs[to]);
		nkdirs--;
	}
	kdirs[to] = p;
	if (p)
		nkdirs++;
	pthread_mutex_unlock(&kdir_mu);
}

const char *kdir_path(int fd, char *buf, size_t cap)
{
	if (fd < 0 || fd >= POLY_MAX_FDS || !__atomic_load_n(&nkdirs, __ATOMIC_RELAXED))
		return NULL;
	const char *r = NULL;
	pthread_mutex_lock(&kdir_mu);
	if (kdirs[fd] && strlen(kdirs[fd]) < cap) {
		strcpy(buf, kdirs[fd]);
		r = buf;
	}
	pthread_mutex_unlock(&kdir_mu);
	return r;
}
