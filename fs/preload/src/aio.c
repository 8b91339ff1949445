/*
 * aio.c: POSIX aio on library fds. glibc's aio threads call its internal
 * pread/pwrite, which the library does not see (they would hit the
 * placeholder), so aio_read/write/fsync and lio_listio on library fds run
 * synchronously and complete the aiocb (error and return fields, signal or
 * thread notification); glibc's aio_error, aio_return and aio_suspend then
 * see a finished request.
 */
#include "poly.h"

#include <aio.h>
#include <signal.h>
#include <stdlib.h>

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
