/*
 * stdio.c: streams over library fds. glibc's FILE code calls its own
 * internal read/write, which the library cannot see, so a stream on one of
 * our files is a fopencookie stream whose functions call the library; its
 * _fileno is set to the library fd so fileno() works. When fd 0, 1 or 2
 * becomes a library fd (a shell redirection, an exec that restored it), the
 * matching standard stream is replaced by such a stream.
 */
#include "poly.h"

#include <stdlib.h>

struct pcookie {
	int fd;
};

static ssize_t ck_read(void *c, char *buf, size_t n)
{
	return read(((struct pcookie *)c)->fd, buf, n);
}

static ssize_t ck_write(void *c, const char *buf, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t k = write(((struct pcookie *)c)->fd, buf + done, n - done);
		if (k <= 0)
			return done ? (ssize_t)done : -1;
		done += (size_t)k;
	}
	return (ssize_t)done;
}

static int ck_seek(void *c, off64_t *pos, int whence)
{
	off_t r = lseek(((struct pcookie *)c)->fd, *pos, whence);
	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int ck_close(void *c)
{
	struct pcookie *k = c;
	int r = close(k->fd);
	free(k);
	return r;
}

static const cookie_io_functions_t ck_funcs = {ck_read, ck_write, ck_seek, ck_close};

static FILE *cookie_stream(int fd, const char *mode)
{
	struct pcookie *k = malloc(sizeof *k);
	if (!k) {
		errno = ENOMEM;
		return NULL;
	}
	k->fd = fd;
	/* fopencookie understands r, w, a and +; drop e, x, b, m, c. */
	char m[4];
	int i = 0;
	m[i++] = mode[0];
	if (strchr(mode, '+'))
		m[i++] = '+';
	m[i] = 0;
	FILE *fp = fopencookie(k, m, ck_funcs);
	if (!fp) {
		free(k);
		return NULL;
	}
	fp->_fileno = fd;
	return fp;
}

/* mode_flags parses an fopen mode. */
static int mode_flags(const char *mode, int *flags)
{
	int f;
	switch (mode[0]) {
	case 'r':
		f = O_RDONLY;
		break;
	case 'w':
		f = O_WRONLY | O_CREAT | O_TRUNC;
		break;
	case 'a':
		f = O_WRONLY | O_CREAT | O_APPEND;
		break;
	default:
		return -EINVAL;
	}
	for (const char *p = mode + 1; *p && *p != ','; p++) {
		switch (*p) {
		case '+':
			f = (f & ~O_ACCMODE) | O_RDWR;
			break;
		case 'x':
			f |= O_EXCL;
			break;
		case 'e':
			f |= O_CLOEXEC;
			break;
		}
	}
	*flags = f;
	return 0;
}

static FILE *open_stream(struct rpath *rp, const char *mode)
{
	int flags;
	int r = mode_flags(mode, &flags);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	int fd = poly_open_path(rp, flags, 0666, -1);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	FILE *fp = cookie_stream(fd, mode);
	if (!fp) {
		int e = errno;
		lfd_close(fd);
		errno = e;
	}
	return fp;
}

POLY_EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (poly_inert())
		return REAL(fopen)(path, mode);
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!rp.ours)
		return REAL(fopen)(rp.kpath, mode);
	return open_stream(&rp, mode);
}

POLY_EXPORT FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

POLY_EXPORT FILE *fdopen(int fd, const char *mode)
{
	struct lfd *f = lfd_get(fd);
	if (!f)
		return REAL(fdopen)(fd, mode);
	int flags;
	if (mode_flags(mode, &flags) < 0) {
		errno = EINVAL;
		return NULL;
	}
	int acc = f->flags & O_ACCMODE;
	if (((flags & O_ACCMODE) == O_RDWR && acc != O_RDWR) || ((flags & O_ACCMODE) == O_RDONLY && acc == O_WRONLY) ||
	    ((flags & O_ACCMODE) == O_WRONLY && acc == O_RDONLY)) {
		errno = EINVAL;
		return NULL;
	}
	return cookie_stream(fd, mode);
}

/* freopen onto our path: the old stream's fd is closed and the new file's
 * library fd takes its number (so stdout stays fd 1); for a standard
 * stream the replacement stream is returned. */
POLY_EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	if (poly_inert() || !path)
		return REAL(freopen)(path, mode, stream);
	struct rpath rp;
	int r = poly_resolve(AT_FDCWD, path, &rp);
	if (r < 0) {
		errno = -r;
		return NULL;
	}
	if (!rp.ours)
		return REAL(freopen)(rp.kpath, mode, stream);
	int flags;
	if (mode_flags(mode, &flags) < 0) {
		errno = EINVAL;
		return NULL;
	}
	int oldfd = fileno(stream);
	fflush(stream);
	int fd = poly_open_path(&rp, flags, 0666, -1);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	if (oldfd >= 0 && oldfd <= 2) {
		int nfd = dup2(fd, oldfd);
		close(fd);
		if (nfd < 0)
			return NULL;
		FILE *std = oldfd == 0 ? stdin : oldfd == 1 ? stdout : stderr;
		return std;
	}
	fclose(stream);
	return cookie_stream(fd, mode);
}

POLY_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return freopen(path, mode, stream);
}

/* ---- standard streams ---- */

static FILE *orig_std[3];
static FILE *ours_std[3];

/* Registered before the library's other constructors (priority 101): the
 * exec restore in process.c installs fds 0..2 already. */
__attribute__((constructor(101))) static void std_watch(void) { lfd_watch_std(poly_std_update); }

void poly_std_update(int fd)
{
	if (fd < 0 || fd > 2 || !poly_active)
		return;
	FILE **slot = fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr;
	if (!orig_std[fd])
		orig_std[fd] = *slot;
	if (lfd_get(fd)) {
		if (*slot == ours_std[fd] && ours_std[fd])
			return;
		if (*slot)
			fflush(*slot);
		FILE *fp = cookie_stream(fd, fd == 0 ? "r" : "w");
		if (!fp)
			return;
		if (fd == 2)
			setvbuf(fp, NULL, _IONBF, 0);
		ours_std[fd] = fp;
		*slot = fp;
	}
	/* A cookie stream keeps working when the fd goes back to the kernel:
	 * its functions call read/write, which dispatch on the fd. */
}

/* dprintf writes with glibc's internal write: format here instead. */
POLY_EXPORT int vdprintf(int fd, const char *fmt, va_list ap)
{
	if (!lfd_get(fd))
		return REAL(vdprintf)(fd, fmt, ap);
	char *s = NULL;
	int n = vasprintf(&s, fmt, ap);
	if (n < 0)
		return n;
	ssize_t w = write(fd, s, (size_t)n);
	free(s);
	return w < 0 ? -1 : n;
}

POLY_EXPORT int dprintf(int fd, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vdprintf(fd, fmt, ap);
	va_end(ap);
	return n;
}

/* ---- temporary files (glibc's use its internal open) ---- */

static int tmp_open(char *tmpl, int suffixlen, int flags, int dir)
{
	size_t len = strlen(tmpl);
	if (len < 6 + (size_t)suffixlen || memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0) {
		errno = EINVAL;
		return -1;
	}
	char *x = tmpl + len - suffixlen - 6;
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	uint64_t v = poly_now() ^ ((uint64_t)getpid() << 32);
	for (int attempt = 0; attempt < 10000; attempt++) {
		uint64_t r = v + (uint64_t)attempt * 7777777;
		for (int i = 0; i < 6; i++) {
			x[i] = chars[r % 62];
			r /= 62;
		}
		int fd = dir ? mkdir(tmpl, 0700) : open(tmpl, (flags & ~O_ACCMODE) | O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd >= 0)
			return fd;
		if (errno != EEXIST)
			return -1;
	}
	errno = EEXIST;
	return -1;
}

static int tmpl_ours(const char *tmpl)
{
	struct rpath rp;
	return (poly_active && tmpl && poly_resolve(AT_FDCWD, tmpl, &rp) == 0 && rp.ours) || poly_refused(tmpl);
}

POLY_EXPORT int mkstemp(char *tmpl)
{
	if (!tmpl_ours(tmpl))
		return REAL(mkstemp)(tmpl);
	return tmp_open(tmpl, 0, 0, 0);
}
POLY_EXPORT int mkstemp64(char *tmpl) { return mkstemp(tmpl); }
POLY_EXPORT int mkostemp(char *tmpl, int flags)
{
	if (!tmpl_ours(tmpl))
		return REAL(mkostemp)(tmpl, flags);
	return tmp_open(tmpl, 0, flags, 0);
}
POLY_EXPORT int mkostemp64(char *tmpl, int flags) { return mkostemp(tmpl, flags); }
POLY_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
	if (!tmpl_ours(tmpl))
		return REAL(mkstemps)(tmpl, suffixlen);
	return tmp_open(tmpl, suffixlen, 0, 0);
}
POLY_EXPORT int mkstemps64(char *tmpl, int suffixlen) { return mkstemps(tmpl, suffixlen); }
POLY_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
	if (!tmpl_ours(tmpl))
		return REAL(mkostemps)(tmpl, suffixlen, flags);
	return tmp_open(tmpl, suffixlen, flags, 0);
}
POLY_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags) { return mkostemps(tmpl, suffixlen, flags); }
POLY_EXPORT char *mkdtemp(char *tmpl)
{
	if (!tmpl_ours(tmpl))
		return REAL(mkdtemp)(tmpl);
	return tmp_open(tmpl, 0, 0, 1) < 0 ? NULL : tmpl;
}
