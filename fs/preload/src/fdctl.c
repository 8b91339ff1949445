/*
 * fdctl.c: descriptor calls on library fds: fcntl (flags, close-on-exec,
 * F_DUPFD; the lock commands go to locks.c), dup, dup2, dup3, ioctl,
 * isatty, close_range and closefrom. Kernel fds pass through; a kernel
 * directory fd above a mount keeps its remembered path across dup.
 */
#include "poly.h"

#include <sys/ioctl.h>

static int do_fcntl(int fd, int cmd, long arg)
{
	struct lfd *f = lfd_get(fd);
	if (!f) {
		int r = REAL(fcntl)(fd, cmd, arg);
		if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
			kdir_copy(fd, r);
		return r;
	}
	switch (cmd) {
	case F_GETFL:
		return f->flags | O_LARGEFILE;
	case F_SETFL: {
		int mask = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
		f->flags = (f->flags & ~mask) | ((int)arg & mask);
		return 0;
	}
	case F_GETFD:
		return f->cloexec ? FD_CLOEXEC : 0;
	case F_SETFD:
		if (REAL(fcntl)(fd, F_SETFD, arg) < 0)
			return -1;
		f->cloexec = (arg & FD_CLOEXEC) != 0;
		return 0;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if (arg < 0 || arg >= POLY_MAX_FDS)
			return (int)poly_ret(-EINVAL);
		return (int)poly_ret(lfd_dup(fd, -1, (int)arg, cmd == F_DUPFD_CLOEXEC));
	case F_GETLK:
	case F_SETLK:
	case F_SETLKW:
	case F_OFD_GETLK:
	case F_OFD_SETLK:
	case F_OFD_SETLKW:
		return (int)poly_ret(poly_fcntl_lock(f, fd, cmd, (struct flock *)arg));
	case F_GETOWN:
	case F_SETOWN:
		return REAL(fcntl)(fd, cmd, arg);
	default:
		return (int)poly_ret(-EINVAL);
	}
}

POLY_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}
/* fcntl64 is fcntl: off_t and struct flock are 64-bit on x86-64. */
POLY_EXPORT int fcntl64(int fd, int cmd, ...) __attribute__((alias("fcntl")));

POLY_EXPORT int dup(int fd)
{
	if (!lfd_get(fd)) {
		int r = REAL(dup)(fd);
		if (r >= 0)
			kdir_copy(fd, r);
		return r;
	}
	return (int)poly_ret(lfd_dup(fd, -1, -1, 0));
}

static int do_dup3(int oldfd, int newfd, int flags, int is_dup2)
{
	struct lfd *o = lfd_get(oldfd);
	if (!o) {
		if (lfd_get(newfd) && REAL(fcntl)(oldfd, F_GETFD) >= 0 && oldfd != newfd) {
			/* A kernel fd replaces a library fd. */
			uint64_t sfd = lfd_get(newfd)->sfd;
			lfd_forget(newfd);
			poly_fdcall(POLY_CALL_CLOSE, sfd, 0, 0, 0, 0);
		}
		int r = is_dup2 ? REAL(dup2)(oldfd, newfd) : REAL(dup3)(oldfd, newfd, flags);
		if (r >= 0 && oldfd != newfd)
			kdir_copy(oldfd, newfd);
		return r;
	}
	if (oldfd == newfd)
		return is_dup2 ? newfd : (int)poly_ret(-EINVAL);
	if (flags & ~O_CLOEXEC)
		return (int)poly_ret(-EINVAL);
	return (int)poly_ret(lfd_dup(oldfd, newfd, -1, (flags & O_CLOEXEC) != 0));
}
POLY_EXPORT int dup2(int oldfd, int newfd) { return do_dup3(oldfd, newfd, 0, 1); }
POLY_EXPORT int dup3(int oldfd, int newfd, int flags) { return do_dup3(oldfd, newfd, flags, 0); }

POLY_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	if (!lfd_get(fd))
		return REAL(ioctl)(fd, req, arg);
	if (req == FIONREAD)
		return (int)poly_ret(-EINVAL);
	return (int)poly_ret(-ENOTTY);
}

POLY_EXPORT int isatty(int fd)
{
	if (!lfd_get(fd))
		return REAL(isatty)(fd);
	errno = ENOTTY;
	return 0;
}

static void close_ours(unsigned int first, unsigned int last)
{
	for (unsigned int fd = first; fd <= last && fd < POLY_MAX_FDS; fd++) {
		kdir_forget((int)fd);
		if (lfd_get((int)fd))
			lfd_close((int)fd);
	}
}

POLY_EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		close_ours(first, last);
	return REAL(close_range)(first, last, flags);
}
POLY_EXPORT void closefrom(int low)
{
	if (low >= 0)
		close_ours((unsigned int)low, ~0u);
	REAL(closefrom)(low);
}
