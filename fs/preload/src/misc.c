/*
 * misc.c: fcntl, dup, locks, ioctl, sendfile/copy_file_range emulation,
 * POSIX aio on library fds, close_range/closefrom and syscall().
 *
 * Record locks on library fds (fcntl F_GETLK/F_SETLK/F_SETLKW and their
 * OFD forms, flock, lockf) live in the service's lock table (LOCK call),
 * so every process of the pool sees them. The service never blocks: a
 * waiting lock (F_SETLKW, flock without LOCK_NB, lockf F_LOCK) retries
 * with a growing sleep and returns EINTR when a signal interrupts it.
 */
#include "poly.h"

#include <aio.h>
#include <linux/aio_abi.h>
#include <sys/eventfd.h>
#include <linux/stat.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/statfs.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <dirent.h>
#include <time.h>
#include <utime.h>

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

/* fcntl_lock serves the F_*LK commands on a library fd. */
static int fcntl_lock(struct lfd *f, int fd, int cmd, struct flock *l)
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
		return (int)poly_ret(fcntl_lock(f, fd, cmd, (struct flock *)arg));
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
POLY_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return do_fcntl(fd, cmd, arg);
}

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

/* ---- copies between fds ---- */

static ssize_t copy_fds(int in, off_t *inoff, int out, off_t *outoff, size_t count)
{
	size_t bufsz = count < (1u << 20) ? count : (1u << 20);
	char *buf = malloc(bufsz ? bufsz : 1);
	if (!buf)
		return poly_ret(-ENOMEM);
	size_t done = 0;
	ssize_t err = 0;
	while (done < count) {
		size_t n = count - done < bufsz ? count - done : bufsz;
		ssize_t r = inoff ? pread(in, buf, n, *inoff) : read(in, buf, n);
		if (r < 0) {
			err = -1;
			break;
		}
		if (r == 0)
			break;
		size_t w = 0;
		while (w < (size_t)r) {
			ssize_t k = outoff ? pwrite(out, buf + w, (size_t)r - w, *outoff + (off_t)w)
					   : write(out, buf + w, (size_t)r - w);
			if (k <= 0) {
				err = -1;
				break;
			}
			w += (size_t)k;
		}
		if (inoff)
			*inoff += (off_t)w;
		if (outoff)
			*outoff += (off_t)w;
		done += w;
		if (err || (size_t)r < n)
			break;
	}
	int e = errno;
	free(buf);
	errno = e;
	return done > 0 ? (ssize_t)done : err;
}

POLY_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t count)
{
	if (!lfd_get(in) && !lfd_get(out))
		return REAL(sendfile)(out, in, off, count);
	return copy_fds(in, off, out, NULL, count);
}
POLY_EXPORT ssize_t sendfile64(int out, int in, off_t *off, size_t count) { return sendfile(out, in, off, count); }

POLY_EXPORT ssize_t copy_file_range(int in, off64_t *inoff, int out, off64_t *outoff, size_t len,
				    unsigned int flags)
{
	if (!lfd_get(in) && !lfd_get(out))
		return REAL(copy_file_range)(in, inoff, out, outoff, len, flags);
	if (flags)
		return poly_ret(-EINVAL);
	return copy_fds(in, inoff, out, outoff, len);
}

/* ---- close_range / closefrom ---- */

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

/* ---- POSIX aio: library fds are served synchronously; aio_error,
 * aio_return and aio_suspend of glibc then see a finished request. ---- */

struct notify {
	void (*fn)(union sigval);
	union sigval v;
};

static void *notify_thread(void *p)
{
	struct notify n = *(struct notify *)p;
	free(p);
	n.fn(n.v);
	return NULL;
}

static void aio_complete(struct aiocb *cb, ssize_t r)
{
	cb->__error_code = r < 0 ? errno : 0;
	cb->__return_value = r;
	struct sigevent *se = &cb->aio_sigevent;
	if (se->sigev_notify == SIGEV_SIGNAL) {
		sigqueue(getpid(), se->sigev_signo, se->sigev_value);
	} else if (se->sigev_notify == SIGEV_THREAD && se->sigev_notify_function) {
		struct notify *n = malloc(sizeof *n);
		pthread_t t;
		if (n) {
			n->fn = se->sigev_notify_function;
			n->v = se->sigev_value;
			if (pthread_create(&t, NULL, notify_thread, n) == 0)
				pthread_detach(t);
			else
				free(n);
		}
	}
}

static int aio_rw(struct aiocb *cb, int writing)
{
	ssize_t r = writing ? pwrite(cb->aio_fildes, (const void *)cb->aio_buf, cb->aio_nbytes, cb->aio_offset)
			    : pread(cb->aio_fildes, (void *)cb->aio_buf, cb->aio_nbytes, cb->aio_offset);
	aio_complete(cb, r);
	return 0;
}

POLY_EXPORT int aio_read(struct aiocb *cb)
{
	if (!lfd_get(cb->aio_fildes))
		return REAL(aio_read)(cb);
	return aio_rw(cb, 0);
}
POLY_EXPORT int aio_read64(struct aiocb64 *cb) { return aio_read((struct aiocb *)cb); }
POLY_EXPORT int aio_write(struct aiocb *cb)
{
	if (!lfd_get(cb->aio_fildes))
		return REAL(aio_write)(cb);
	return aio_rw(cb, 1);
}
POLY_EXPORT int aio_write64(struct aiocb64 *cb) { return aio_write((struct aiocb *)cb); }
POLY_EXPORT int aio_fsync(int op, struct aiocb *cb)
{
	if (!lfd_get(cb->aio_fildes))
		return REAL(aio_fsync)(op, cb);
	aio_complete(cb, op == O_DSYNC ? fdatasync(cb->aio_fildes) : fsync(cb->aio_fildes));
	return 0;
}
POLY_EXPORT int aio_fsync64(int op, struct aiocb64 *cb) { return aio_fsync(op, (struct aiocb *)cb); }
POLY_EXPORT int aio_cancel(int fd, struct aiocb *cb)
{
	if (!lfd_get(fd))
		return REAL(aio_cancel)(fd, cb);
	return AIO_ALLDONE;
}
POLY_EXPORT int aio_cancel64(int fd, struct aiocb64 *cb) { return aio_cancel(fd, (struct aiocb *)cb); }

POLY_EXPORT int lio_listio(int mode, struct aiocb *const list[], int n, struct sigevent *sev)
{
	int ours = 0;
	for (int i = 0; i < n; i++)
		if (list[i] && lfd_get(list[i]->aio_fildes))
			ours = 1;
	if (!ours)
		return REAL(lio_listio)(mode, list, n, sev);
	for (int i = 0; i < n; i++) {
		struct aiocb *cb = list[i];
		if (!cb || cb->aio_lio_opcode == LIO_NOP)
			continue;
		int w = cb->aio_lio_opcode == LIO_WRITE;
		if (lfd_get(cb->aio_fildes))
			aio_rw(cb, w);
		else
			(w ? REAL(aio_write) : REAL(aio_read))(cb);
	}
	if (mode == LIO_NOWAIT && sev && sev->sigev_notify == SIGEV_SIGNAL)
		sigqueue(getpid(), sev->sigev_signo, sev->sigev_value);
	return 0;
}
POLY_EXPORT int lio_listio64(int mode, struct aiocb64 *const list[], int n, struct sigevent *sev)
{
	return lio_listio(mode, (struct aiocb *const *)list, n, sev);
}

/* ---- Linux native aio (libaio calls syscall()): requests on library fds
 * run at submission and their completions wait in a per-context list that
 * io_getevents returns before the kernel's. ---- */

struct kctx {
	aio_context_t ctx;
	struct io_event *ev;
	size_t n, cap;
};
static struct kctx *kctxs;
static size_t nkctx;
static pthread_mutex_t kaio_mu = PTHREAD_MUTEX_INITIALIZER;

/* Preconditions: kaio_mu held. */
static struct kctx *kctx_of(aio_context_t ctx, int create)
{
	for (size_t i = 0; i < nkctx; i++)
		if (kctxs[i].ctx == ctx)
			return &kctxs[i];
	if (!create)
		return NULL;
	struct kctx *n = realloc(kctxs, (nkctx + 1) * sizeof *n);
	if (!n)
		return NULL;
	kctxs = n;
	kctxs[nkctx] = (struct kctx){.ctx = ctx};
	return &kctxs[nkctx++];
}

static long kaio_run(struct iocb *cb)
{
	void *buf = (void *)(uintptr_t)cb->aio_buf;
	int fd = (int)cb->aio_fildes;
	long r;
	switch (cb->aio_lio_opcode) {
	case IOCB_CMD_PREAD:
		r = pread(fd, buf, cb->aio_nbytes, cb->aio_offset);
		break;
	case IOCB_CMD_PWRITE:
		r = pwrite(fd, buf, cb->aio_nbytes, cb->aio_offset);
		break;
	case IOCB_CMD_PREADV:
		r = preadv(fd, buf, (int)cb->aio_nbytes, cb->aio_offset);
		break;
	case IOCB_CMD_PWRITEV:
		r = pwritev(fd, buf, (int)cb->aio_nbytes, cb->aio_offset);
		break;
	case IOCB_CMD_FSYNC:
		r = fsync(fd);
		break;
	case IOCB_CMD_FDSYNC:
		r = fdatasync(fd);
		break;
	default:
		errno = EINVAL;
		r = -1;
	}
	return r < 0 ? -errno : r;
}

static long kaio_submit(aio_context_t ctx, long nr, struct iocb **cbs)
{
	int ours = 0;
	for (long i = 0; i < nr && !ours; i++)
		ours = cbs[i] && lfd_get((int)cbs[i]->aio_fildes) != NULL;
	if (!ours)
		return REAL(syscall)(SYS_io_submit, ctx, nr, cbs);
	long done = 0;
	for (; done < nr; done++) {
		struct iocb *cb = cbs[done];
		if (!lfd_get((int)cb->aio_fildes)) {
			long r = REAL(syscall)(SYS_io_submit, ctx, 1, &cbs[done]);
			if (r != 1)
				return done ? done : r;
			continue;
		}
		struct io_event ev = {.data = cb->aio_data, .obj = (uint64_t)(uintptr_t)cb, .res = kaio_run(cb)};
		pthread_mutex_lock(&kaio_mu);
		struct kctx *k = kctx_of(ctx, 1);
		if (k && k->n == k->cap) {
			size_t nc = k->cap ? 2 * k->cap : 64;
			struct io_event *ne = realloc(k->ev, nc * sizeof *ne);
			if (ne) {
				k->ev = ne;
				k->cap = nc;
			}
		}
		int ok = k && k->n < k->cap;
		if (ok)
			k->ev[k->n++] = ev;
		pthread_mutex_unlock(&kaio_mu);
		if (!ok)
			return done ? done : (errno = EAGAIN, -1);
		if (cb->aio_flags & IOCB_FLAG_RESFD)
			eventfd_write((int)cb->aio_resfd, 1);
	}
	return done;
}

static long kaio_getevents(long nr_call, aio_context_t ctx, long min_nr, long nr, struct io_event *events, void *timeout,
			   void *sig)
{
	long got = 0;
	pthread_mutex_lock(&kaio_mu);
	struct kctx *k = kctx_of(ctx, 0);
	if (k && k->n > 0 && nr > 0) {
		got = (long)k->n < nr ? (long)k->n : nr;
		memcpy(events, k->ev, (size_t)got * sizeof *events);
		memmove(k->ev, k->ev + got, (k->n - (size_t)got) * sizeof *events);
		k->n -= (size_t)got;
	}
	pthread_mutex_unlock(&kaio_mu);
	if (!k || got == 0)
		return REAL(syscall)(nr_call, ctx, min_nr, nr, events, timeout, sig);
	if (got >= min_nr || got == nr)
		return got;
	/* Poll the kernel for the rest without blocking past what we have. */
	struct timespec zero = {0, 0};
	long r = REAL(syscall)(nr_call, ctx, 0, nr - got, events + got, &zero, sig);
	return r > 0 ? got + r : got;
}

/* libaio's io_getevents reads the kernel's completion ring itself and may
 * return without a system call; completions of library fds are not in that
 * ring, so the function is interposed too. */
int io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events, struct timespec *timeout);

POLY_EXPORT int io_getevents(aio_context_t ctx, long min_nr, long nr, struct io_event *events,
			     struct timespec *timeout)
{
	long got = 0;
	pthread_mutex_lock(&kaio_mu);
	struct kctx *k = nkctx ? kctx_of(ctx, 0) : NULL;
	if (k && k->n > 0 && nr > 0) {
		got = (long)k->n < nr ? (long)k->n : nr;
		memcpy(events, k->ev, (size_t)got * sizeof *events);
		memmove(k->ev, k->ev + got, (k->n - (size_t)got) * sizeof *events);
		k->n -= (size_t)got;
	}
	pthread_mutex_unlock(&kaio_mu);
	if (got == 0)
		return REAL(io_getevents)(ctx, min_nr, nr, events, timeout);
	if (got >= min_nr || got == nr)
		return (int)got;
	struct timespec zero = {0, 0};
	int r = REAL(io_getevents)(ctx, 0, nr - got, events + got, &zero);
	return r > 0 ? (int)got + r : (int)got;
}

static long kaio_destroy(aio_context_t ctx)
{
	pthread_mutex_lock(&kaio_mu);
	struct kctx *k = kctx_of(ctx, 0);
	if (k) {
		free(k->ev);
		*k = kctxs[--nkctx];
	}
	pthread_mutex_unlock(&kaio_mu);
	return REAL(syscall)(SYS_io_destroy, ctx);
}

/* ---- syscall(): the file-related numbers go through the library ---- */

extern int stat(const char *, struct stat *);
extern int lstat(const char *, struct stat *);

POLY_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long), d = va_arg(ap, long),
	     e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (!poly_active)
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
