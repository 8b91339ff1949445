/*
 * locks.c: record locks on library fds: fcntl's F_GETLK/F_SETLK/F_SETLKW
 * and their OFD forms (poly_fcntl_lock, called by fcntl in fdctl.c), flock
 * and lockf. The locks live in the service's lock table (LOCK call), so
 * every process of the pool sees them. The service never blocks: a
 * waiting lock (F_SETLKW, flock without LOCK_NB, lockf F_LOCK) retries
 * with a growing sleep and returns EINTR when a signal interrupts it.
 */
#include "poly.h"

#include <sys/file.h>
#include <time.h>

/* lock_call asks the service; 0 or -errno (EAGAIN: a conflicting lock). */
static int lock_call(struct lfd *f, int op, int kind, int type, int64_t start, int64_t len, struct poly_lock_info *li)
{
	uint64_t args[5] = {(uint64_t)op, (uint64_t)kind, (uint64_t)type, (uint64_t)start, (uint64_t)len};
	int64_t r = poly_fdargs(POLY_CALL_LOCK, f->sfd, args, 5, li, li ? sizeof *li : 0);
	if (r < 0)
		return (int)r;
	if (li && r < (int64_t)sizeof *li)
		return -EIO;
	return 0;
}

/* lock_wait retries a set until it is granted: 0, or -errno (-EINTR when a
 * signal handler ran during the wait). */
static int lock_wait(struct lfd *f, int kind, int type, int64_t start, int64_t len)
{
	long ns = 50000;
	for (;;) {
		int r = lock_call(f, POLY_LOCK_SET, kind, type, start, len, NULL);
		if (r != -EAGAIN)
			return r;
		struct timespec ts = {0, ns};
		if (nanosleep(&ts, NULL) < 0 && errno == EINTR)
			return -EINTR;
		if (ns < 20000000)
			ns *= 2;
	}
}

/* lock_range resolves l_whence/l_start/l_len against the fd's offset or
 * size to an absolute start and a length (0: to the end). */
static int lock_range(struct lfd *f, int fd, int whence, int64_t start, int64_t len, int64_t *ostart, int64_t *olen)
{
	int64_t base = 0;
	switch (whence) {
	case SEEK_SET:
		break;
	case SEEK_CUR: {
		off_t cur = lseek(fd, 0, SEEK_CUR);
		if (cur < 0)
			return -errno;
		base = cur;
		break;
	}
	case SEEK_END: {
		struct stat st;
		int r = poly_fstat_sfd(f->sfd, &st);
		if (r < 0)
			return r;
		base = st.st_size;
		break;
	}
	default:
		return -EINVAL;
	}
	if (__builtin_add_overflow(base, start, &start))
		return -EOVERFLOW;
	if (len < 0) {
		if (len == INT64_MIN || __builtin_add_overflow(start, len, &start))
			return -EINVAL;
		len = -len;
	}
	if (start < 0)
		return -EINVAL;
	*ostart = start;
	*olen = len;
	return 0;
}

/* poly_fcntl_lock serves the F_*LK commands of fcntl on a library fd. */
int poly_fcntl_lock(struct lfd *f, int fd, int cmd, struct flock *l)
{
	if (!l)
		return -EFAULT;
	int ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
	if (ofd && l->l_pid != 0)
		return -EINVAL;
	if (l->l_type != F_RDLCK && l->l_type != F_WRLCK && l->l_type != F_UNLCK)
		return -EINVAL;
	int64_t start = 0, len = 0;
	int r = lock_range(f, fd, l->l_whence, l->l_start, l->l_len, &start, &len);
	if (r < 0)
		return r;
	int kind = ofd ? POLY_LOCK_OFD : POLY_LOCK_POSIX;
	switch (cmd) {
	case F_GETLK:
	case F_OFD_GETLK: {
		if (l->l_type == F_UNLCK)
			return -EINVAL;
		struct poly_lock_info li;
		if ((r = lock_call(f, POLY_LOCK_GET, kind, l->l_type, start, len, &li)) < 0)
			return r;
		l->l_type = (short)li.type;
		if (li.type != F_UNLCK) {
			l->l_whence = SEEK_SET;
			l->l_start = li.start;
			l->l_len = li.len;
			l->l_pid = (pid_t)li.pid;
		}
		return 0;
	}
	case F_SETLKW:
	case F_OFD_SETLKW:
		return lock_wait(f, kind, l->l_type, start, len);
	default:
		return lock_call(f, POLY_LOCK_SET, kind, l->l_type, start, len, NULL);
	}
}

POLY_EXPORT int flock(int fd, int op)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(flock)(fd, op);
	int type;
	switch (op & ~LOCK_NB) {
	case LOCK_SH:
		type = F_RDLCK;
		break;
	case LOCK_EX:
		type = F_WRLCK;
		break;
	case LOCK_UN:
		type = F_UNLCK;
		break;
	default:
		return (int)poly_ret(-EINVAL);
	}
	if (op & LOCK_NB || type == F_UNLCK)
		return (int)poly_ret(lock_call(f, POLY_LOCK_SET, POLY_LOCK_FLOCK, type, 0, 0, NULL));
	return (int)poly_ret(lock_wait(f, POLY_LOCK_FLOCK, type, 0, 0));
}

/* lockf is the POSIX lock of [offset, offset + len) (len 0: to the end;
 * negative: the bytes before the offset), as glibc builds it on fcntl. */
POLY_EXPORT int lockf(int fd, int cmd, off_t len)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(lockf)(fd, cmd, len);
	int64_t start = 0, n = 0;
	int r = lock_range(f, fd, SEEK_CUR, 0, len, &start, &n);
	if (r < 0)
		return (int)poly_ret(r);
	switch (cmd) {
	case F_ULOCK:
		return (int)poly_ret(lock_call(f, POLY_LOCK_SET, POLY_LOCK_POSIX, F_UNLCK, start, n, NULL));
	case F_LOCK:
		return (int)poly_ret(lock_wait(f, POLY_LOCK_POSIX, F_WRLCK, start, n));
	case F_TLOCK:
		r = lock_call(f, POLY_LOCK_SET, POLY_LOCK_POSIX, F_WRLCK, start, n, NULL);
		return (int)poly_ret(r == -EAGAIN ? -EACCES : r);
	case F_TEST: {
		struct poly_lock_info li;
		if ((r = lock_call(f, POLY_LOCK_GET, POLY_LOCK_POSIX, F_WRLCK, start, n, &li)) < 0)
			return (int)poly_ret(r);
		return li.type == F_UNLCK || li.pid == getpid() ? 0 : (int)poly_ret(-EACCES);
	}
	default:
		return (int)poly_ret(-EINVAL);
	}
}
POLY_EXPORT int lockf64(int fd, int cmd, off_t len) { return lockf(fd, cmd, len); }
