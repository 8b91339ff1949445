/*
 * linuxaio.c: Linux native aio (libaio, as fio --ioengine=libaio uses it)
 * on library fds. libaio issues io_submit, io_getevents and io_destroy
 * through syscall(), whose interposer (syscall.c) hands them here: iocbs on
 * library fds run at submission and their completions (with
 * IOCB_FLAG_RESFD eventfd notification) wait in a per-context list that
 * io_getevents returns before the kernel's. libaio's own io_getevents,
 * which reads the kernel's completion ring without a system call, is
 * interposed too.
 */
#include "poly.h"

#include <linux/aio_abi.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <sys/uio.h>

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

long kaio_submit(aio_context_t ctx, long nr, struct iocb **cbs)
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

/* take_events moves up to nr completions of ctx that the library holds
 * into events and returns how many. */
static long take_events(aio_context_t ctx, long nr, struct io_event *events)
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
	return got;
}

long kaio_getevents(long nr_call, aio_context_t ctx, long min_nr, long nr, struct io_event *events, void *timeout,
		    void *sig)
{
	long got = take_events(ctx, nr, events);
	if (got == 0)
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
	long got = take_events(ctx, nr, events);
	if (got == 0)
		return REAL(io_getevents)(ctx, min_nr, nr, events, timeout);
	if (got >= min_nr || got == nr)
		return (int)got;
	struct timespec zero = {0, 0};
	int r = REAL(io_getevents)(ctx, 0, nr - got, events + got, &zero);
	return r > 0 ? (int)got + r : (int)got;
}

long kaio_destroy(aio_context_t ctx)
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
