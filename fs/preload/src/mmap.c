/*
 * mmap.c: file mappings of library fds are emulated: an anonymous mapping
 * filled with pread, recorded in a mapping table with its own service
 * reference (CallDup) so the file outlives close(fd). MAP_SHARED writable
 * mappings are written back (up to the file's size at the time) on msync
 * and munmap. Pages are not coherent with writes through fds.
 */
#include "poly.h"

#include <stdlib.h>
#include <sys/mman.h>

struct pmap {
	uintptr_t addr;
	size_t len;
	off_t off;
	uint64_t sfd;
	int writeback; /* MAP_SHARED with PROT_WRITE */
	int prot;
	dev_t dev; /* the file, to find other mappings of it */
	ino_t ino;
};

static int write_back(struct pmap *m, uintptr_t a, size_t n);
static struct pmap *maps;
static size_t nmaps, capmaps;
static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static size_t nmaps_hint;

static void *do_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct lfd *f = lfd_get(fd);
	if (!f || (flags & MAP_ANONYMOUS))
		return REAL(mmap)(addr, len, prot, flags, fd, off);
	if (len == 0 || off < 0 || (off & (POLY_PAGE_SIZE - 1))) {
		errno = EINVAL;
		return MAP_FAILED;
	}
	int shared = (flags & MAP_SHARED) || (flags & MAP_SHARED_VALIDATE) == MAP_SHARED_VALIDATE;
	int acc = f->flags & O_ACCMODE;
	if (acc == O_WRONLY || (shared && (prot & PROT_WRITE) && acc != O_RDWR)) {
		errno = EACCES;
		return MAP_FAILED;
	}
	/* Dirty pages of other shared mappings of the same file go to the
	 * file first, so the new mapping sees them (as the page cache would). */
	struct stat st;
	int r0 = poly_fstat_sfd(f->sfd, &st);
	if (r0 < 0) {
		errno = -r0;
		return MAP_FAILED;
	}
	pthread_mutex_lock(&map_mu);
	for (size_t i = 0; i < nmaps; i++)
		if (maps[i].writeback && maps[i].dev == st.st_dev && maps[i].ino == st.st_ino)
			write_back(&maps[i], maps[i].addr, maps[i].len);
	pthread_mutex_unlock(&map_mu);
	int aflags = (flags & ~(MAP_SHARED | MAP_SHARED_VALIDATE | MAP_PRIVATE)) | MAP_PRIVATE | MAP_ANONYMOUS;
	void *p = REAL(mmap)(addr, len, prot | PROT_WRITE, aflags, -1, 0);
	if (p == MAP_FAILED)
		return p;
	ssize_t n = poly_rw(POLY_CALL_PREAD, f->sfd, p, len, off);
	if (n < 0) {
		REAL(munmap)(p, len);
		errno = (int)-n;
		return MAP_FAILED;
	}
	if (!(prot & PROT_WRITE))
		mprotect(p, len, prot);
	int64_t r = poly_fdcall(POLY_CALL_DUP, f->sfd, 0, 0, 0, 0);
	if (r < 0) {
		REAL(munmap)(p, len);
		errno = (int)-r;
		return MAP_FAILED;
	}
	pthread_mutex_lock(&map_mu);
	if (nmaps == capmaps) {
		size_t nc = capmaps ? 2 * capmaps : 16;
		struct pmap *nm = realloc(maps, nc * sizeof *nm);
		if (!nm) {
			pthread_mutex_unlock(&map_mu);
			poly_fdcall(POLY_CALL_CLOSE, f->sfd, 0, 0, 0, 0);
			REAL(munmap)(p, len);
			errno = ENOMEM;
			return MAP_FAILED;
		}
		maps = nm;
		capmaps = nc;
	}
	maps[nmaps++] = (struct pmap){(uintptr_t)p, len, off, f->sfd, shared && (prot & PROT_WRITE), prot, st.st_dev,
				      st.st_ino};
	__atomic_store_n(&nmaps_hint, nmaps, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&map_mu);
	return p;
}

POLY_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}
POLY_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return do_mmap(addr, len, prot, flags, fd, off);
}

/* write_back stores [a, a+n) of mapping m into its file, not beyond EOF. */
static int write_back(struct pmap *m, uintptr_t a, size_t n)
{
	if (!m->writeback)
		return 0;
	struct stat st;
	if (poly_fstat_sfd(m->sfd, &st) < 0)
		return -EIO;
	off_t foff = m->off + (off_t)(a - m->addr);
	if (foff >= st.st_size)
		return 0;
	if ((off_t)n > st.st_size - foff)
		n = (size_t)(st.st_size - foff);
	ssize_t w = poly_rw(POLY_CALL_PWRITE, m->sfd, (void *)a, n, foff);
	return w < 0 ? (int)w : 0;
}

POLY_EXPORT int msync(void *addr, size_t len, int flags)
{
	if (!__atomic_load_n(&nmaps_hint, __ATOMIC_RELAXED))
		return REAL(msync)(addr, len, flags);
	uintptr_t a = (uintptr_t)addr, e = a + len;
	int found = 0, r = 0;
	pthread_mutex_lock(&map_mu);
	for (size_t i = 0; i < nmaps; i++) {
		struct pmap *m = &maps[i];
		uintptr_t lo = a > m->addr ? a : m->addr, hi = e < m->addr + m->len ? e : m->addr + m->len;
		if (lo >= hi)
			continue;
		found = 1;
		int w = write_back(m, lo, hi - lo);
		if (w < 0)
			r = w;
	}
	pthread_mutex_unlock(&map_mu);
	if (!found)
		return REAL(msync)(addr, len, flags);
	return (int)poly_ret(r);
}

POLY_EXPORT int munmap(void *addr, size_t len)
{
	if (!__atomic_load_n(&nmaps_hint, __ATOMIC_RELAXED))
		return REAL(munmap)(addr, len);
	uintptr_t a = (uintptr_t)addr, e = a + len;
	uint64_t toclose[16];
	int nclose = 0;
	pthread_mutex_lock(&map_mu);
	for (size_t i = 0; i < nmaps;) {
		struct pmap *m = &maps[i];
		uintptr_t mend = m->addr + m->len;
		uintptr_t lo = a > m->addr ? a : m->addr, hi = e < mend ? e : mend;
		if (lo >= hi) {
			i++;
			continue;
		}
		write_back(m, lo, hi - lo);
		if (lo == m->addr && hi == mend) {
			if (nclose < 16)
				toclose[nclose++] = m->sfd;
			maps[i] = maps[--nmaps];
			continue;
		}
		if (lo == m->addr) { /* trim the front */
			m->off += (off_t)(hi - m->addr);
			m->len = mend - hi;
			m->addr = hi;
		} else if (hi == mend) { /* trim the back */
			m->len = lo - m->addr;
		} else { /* a hole: keep the front, drop the back's write-back */
			m->len = lo - m->addr;
		}
		i++;
	}
	__atomic_store_n(&nmaps_hint, nmaps, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&map_mu);
	for (int i = 0; i < nclose; i++)
		poly_fdcall(POLY_CALL_CLOSE, toclose[i], 0, 0, 0, 0);
	return REAL(munmap)(addr, len);
}

/* madvise: dropping pages (MADV_DONTNEED, MADV_FREE, MADV_REMOVE...) of an
 * emulated mapping would zero anonymous memory where a file mapping would
 * re-read the file: a shared mapping is written back and kept, a private
 * one is re-read from the file. Other advice is accepted. */
static int drops_pages(int advice)
{
	return advice == MADV_DONTNEED || advice == MADV_FREE || advice == MADV_REMOVE;
}

static int do_madvise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr, e = a + len;
	int found = 0, r = 0;
	pthread_mutex_lock(&map_mu);
	for (size_t i = 0; i < nmaps; i++) {
		struct pmap *m = &maps[i];
		uintptr_t lo = a > m->addr ? a : m->addr, hi = e < m->addr + m->len ? e : m->addr + m->len;
		if (lo >= hi)
			continue;
		found = 1;
		if (!drops_pages(advice))
			continue;
		if (m->writeback) {
			int w = write_back(m, lo, hi - lo);
			if (w < 0)
				r = w;
		} else {
			if (!(m->prot & PROT_WRITE))
				mprotect((void *)lo, hi - lo, m->prot | PROT_WRITE);
			ssize_t n = poly_rw(POLY_CALL_PREAD, m->sfd, (void *)lo, hi - lo, m->off + (off_t)(lo - m->addr));
			if (n >= 0 && (size_t)n < hi - lo)
				memset((char *)lo + n, 0, hi - lo - (size_t)n);
			if (!(m->prot & PROT_WRITE))
				mprotect((void *)lo, hi - lo, m->prot);
		}
	}
	pthread_mutex_unlock(&map_mu);
	if (!found)
		return 1; /* not ours: the caller asks the kernel */
	return r;
}

POLY_EXPORT int madvise(void *addr, size_t len, int advice)
{
	if (!__atomic_load_n(&nmaps_hint, __ATOMIC_RELAXED))
		return REAL(madvise)(addr, len, advice);
	int r = do_madvise(addr, len, advice);
	if (r == 1)
		return REAL(madvise)(addr, len, advice);
	return (int)poly_ret(r);
}

POLY_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	if (!__atomic_load_n(&nmaps_hint, __ATOMIC_RELAXED))
		return REAL(posix_madvise)(addr, len, advice);
	/* POSIX_MADV_DONTNEED is advisory in glibc (never drops pages). */
	int r = do_madvise(addr, len, advice == POSIX_MADV_DONTNEED ? -1 : advice);
	if (r == 1)
		return REAL(posix_madvise)(addr, len, advice);
	return r < 0 ? -r : 0;
}
