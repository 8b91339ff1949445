/* callserver.c: makes the libc calls of a libservice API test, one request
 * at a time per worker thread, so that fs/fstest's cases run through
 * whatever libc calls go to: the preload library when it is in LD_PRELOAD,
 * the kernel otherwise (callserver_test.go is the Go side).
 *
 * Usage: callserver [ROOT]. With ROOT the server chroots there first (the
 * native reference: absolute symlinks and ".." then stay inside ROOT as the
 * API wants). It reads requests on stdin and writes replies on stdout,
 * both in native byte order:
 *
 *	request: struct request, then len[0] bytes of path, len[1] bytes of a
 *	         second string (new path, link target, xattr name), len[2]
 *	         bytes of data (pwrite, setxattr)
 *	reply:   struct reply, then len bytes of data
 *
 * A reply carries the call's result and its errno unchanged. File handles
 * are the server's fds; directory handles index a table of DIR streams
 * (closedir of a closed stream is undefined in C, so the table answers
 * EBADF). NWORKERS threads serve requests concurrently, as the Go side's
 * goroutines make them. The server exits when stdin ends.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <unistd.h>

/* Operations; the same numbers as the op* constants of callserver_test.go. */
enum {
	OP_OPEN = 1,	  /* path, arg0 flags, arg1 mode -> fd */
	OP_STAT,	  /* path -> struct wire_stat */
	OP_LSTAT,	  /* path -> struct wire_stat */
	OP_MKDIR,	  /* path, arg0 mode */
	OP_RMDIR,	  /* path */
	OP_UNLINK,	  /* path */
	OP_RENAME,	  /* path, new path, arg0 renameat2 flags */
	OP_OPENDIR,	  /* path -> handle */
	OP_READDIR,	  /* arg0 handle, arg1 n (<= 0: all) -> count, entries */
	OP_CLOSEDIR,	  /* arg0 handle */
	OP_SYMLINK,	  /* path (the link), target */
	OP_READLINK,	  /* path -> target */
	OP_LINK,	  /* path, new path */
	OP_CHMOD,	  /* path, arg0 mode */
	OP_CHOWN,	  /* path, arg0 uid, arg1 gid, arg2 flags */
	OP_UTIMENS,	  /* path, arg0-3 atime and mtime (sec, nsec), arg4 flags */
	OP_TRUNCATE,	  /* path, arg0 size */
	OP_ACCESS,	  /* path, arg0 mode */
	OP_STATFS,	  /* path -> struct wire_statfs */
	OP_PREAD,	  /* arg0 fd, arg1 length, arg2 offset -> data */
	OP_PWRITE,	  /* arg0 fd, arg1 offset, data */
	OP_FSTAT,	  /* arg0 fd -> struct wire_stat */
	OP_FTRUNCATE,	  /* arg0 fd, arg1 size */
	OP_FSYNC,	  /* arg0 fd, arg1 1: fdatasync */
	OP_FALLOCATE,	  /* arg0 fd, arg1 mode, arg2 offset, arg3 length */
	OP_CLOSE,	  /* arg0 fd */
	OP_GETXATTR,	  /* path, name, arg0 size -> value */
	OP_SETXATTR,	  /* path, name, data, arg0 flags */
	OP_LISTXATTR,	  /* path, arg0 size -> names */
	OP_REMOVEXATTR,	  /* path, name */
	OP_COPYRANGE,	  /* arg0 in fd, arg1 in offset, arg2 out fd, arg3 out offset, arg4 length */
};

struct request {
	uint32_t id, op;
	int64_t arg[5];
	uint32_t len[3];
	uint32_t pad;
};

struct reply {
	uint32_t id;
	int32_t err;
	int64_t ret;
	uint32_t len, pad;
};

/* wire_stat is fs.Stat's fields in order, each as int64. */
struct wire_stat {
	int64_t dev, ino, mode, nlink, uid, gid, rdev, size, blksize, blocks;
	int64_t atime[2], mtime[2], ctime[2];
};

/* wire_statfs is fs.Statfs's fields in order, each as int64. */
struct wire_statfs {
	int64_t type, bsize, blocks, bfree, bavail, files, ffree, namelen, frsize;
};

/* A directory entry in a READDIR reply: wire_dirent, then namelen bytes. */
struct wire_dirent {
	uint64_t ino;
	uint8_t type, pad;
	uint16_t namelen;
	uint32_t pad2;
};

#define NWORKERS 8
#define MAX_DIRS 4096
#define MAX_DATA (256u << 20)

static pthread_mutex_t in_mu = PTHREAD_MUTEX_INITIALIZER, out_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t dirs_mu = PTHREAD_MUTEX_INITIALIZER;
static DIR *dirs[MAX_DIRS];

static void die(const char *what)
{
	fprintf(stderr, "callserver: %s: %s\n", what, strerror(errno));
	exit(3);
}

/* read_full reads n bytes: 1, or 0 at the end of input before the first. */
static int read_full(void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(0, (char *)p + got, n - got);
		if (r == 0 && got == 0)
			return 0;
		if (r == 0) {
			errno = EPIPE;
			die("request cut short");
		}
		if (r < 0 && errno != EINTR)
			die("read");
		if (r > 0)
			got += (size_t)r;
	}
	return 1;
}

static void write_full(const void *p, size_t n)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = write(1, (const char *)p + done, n - done);
		if (r < 0 && errno != EINTR)
			die("write");
		if (r > 0)
			done += (size_t)r;
	}
}

/* A decoded request and the reply being built. */
struct call {
	struct request q;
	char *str[2]; /* NUL-terminated */
	char *data;
	int64_t ret;
	int err;
	char *out;
	size_t outlen;
};

static void put_stat(struct call *c, const struct stat *st)
{
	struct wire_stat *w = calloc(1, sizeof *w);
	if (!w)
		die("calloc");
	*w = (struct wire_stat){
		.dev = (int64_t)st->st_dev, .ino = (int64_t)st->st_ino, .mode = st->st_mode, .nlink = (int64_t)st->st_nlink,
		.uid = st->st_uid, .gid = st->st_gid, .rdev = (int64_t)st->st_rdev, .size = st->st_size,
		.blksize = st->st_blksize, .blocks = st->st_blocks,
		.atime = {st->st_atim.tv_sec, st->st_atim.tv_nsec}, .mtime = {st->st_mtim.tv_sec, st->st_mtim.tv_nsec},
		.ctime = {st->st_ctim.tv_sec, st->st_ctim.tv_nsec},
	};
	c->out = (char *)w;
	c->outlen = sizeof *w;
}

/* result records a call's return value and, when it failed, its errno. */
static void result(struct call *c, int64_t r)
{
	c->ret = r;
	c->err = r < 0 ? errno : 0;
}

static void do_stat(struct call *c, int follow)
{
	struct stat st;
	int r = follow ? stat(c->str[0], &st) : lstat(c->str[0], &st);
	result(c, r);
	if (r == 0)
		put_stat(c, &st);
}

static void do_opendir(struct call *c)
{
	DIR *d = opendir(c->str[0]);
	if (!d) {
		result(c, -1);
		return;
	}
	pthread_mutex_lock(&dirs_mu);
	int h = -1;
	for (int i = 0; i < MAX_DIRS && h < 0; i++)
		if (!dirs[i])
			h = i;
	if (h >= 0)
		dirs[h] = d;
	pthread_mutex_unlock(&dirs_mu);
	if (h < 0) {
		closedir(d);
		errno = EMFILE;
	}
	result(c, h);
}

/* take_dir removes handle h from the table (closedir) or returns it. */
static DIR *dir_of(int64_t h, int take)
{
	if (h < 0 || h >= MAX_DIRS)
		return NULL;
	pthread_mutex_lock(&dirs_mu);
	DIR *d = dirs[h];
	if (take)
		dirs[h] = NULL;
	pthread_mutex_unlock(&dirs_mu);
	return d;
}

/* do_readdir returns up to n entries (n <= 0: all that remain), without
 * "." and "..", which the API leaves out. */
static void do_readdir(struct call *c)
{
	DIR *d = dir_of(c->q.arg[0], 0);
	if (!d) {
		errno = EBADF;
		result(c, -1);
		return;
	}
	int64_t n = c->q.arg[1], count = 0;
	size_t cap = 4096, len = 0;
	char *out = malloc(cap);
	if (!out)
		die("malloc");
	for (;;) {
		if (n > 0 && count == n)
			break;
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e) {
			if (errno != 0) {
				free(out);
				result(c, -1);
				return;
			}
			break;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		size_t nl = strlen(e->d_name);
		while (len + sizeof(struct wire_dirent) + nl > cap) {
			cap *= 2;
			if (!(out = realloc(out, cap)))
				die("realloc");
		}
		struct wire_dirent w = {.ino = e->d_ino, .type = e->d_type, .namelen = (uint16_t)nl};
		memcpy(out + len, &w, sizeof w);
		memcpy(out + len + sizeof w, e->d_name, nl);
		len += sizeof w + nl;
		count++;
	}
	c->out = out;
	c->outlen = len;
	result(c, count);
}

static void do_closedir(struct call *c)
{
	DIR *d = dir_of(c->q.arg[0], 1);
	if (!d) {
		errno = EBADF;
		result(c, -1);
		return;
	}
	result(c, closedir(d));
}

/* out_buffer allocates the reply data of a call that fills n bytes. */
static char *out_buffer(struct call *c, int64_t n)
{
	if (n < 0 || n > MAX_DATA) {
		errno = EINVAL;
		result(c, -1);
		return NULL;
	}
	c->out = malloc(n ? (size_t)n : 1);
	if (!c->out)
		die("malloc");
	return c->out;
}

static void do_call(struct call *c)
{
	const int64_t *a = c->q.arg;
	const char *p = c->str[0], *p2 = c->str[1];
	switch (c->q.op) {
	case OP_OPEN:
		result(c, open(p, (int)a[0], (mode_t)a[1]));
		break;
	case OP_STAT:
		do_stat(c, 1);
		break;
	case OP_LSTAT:
		do_stat(c, 0);
		break;
	case OP_MKDIR:
		result(c, mkdir(p, (mode_t)a[0]));
		break;
	case OP_RMDIR:
		result(c, rmdir(p));
		break;
	case OP_UNLINK:
		result(c, unlink(p));
		break;
	case OP_RENAME:
		result(c, a[0] ? renameat2(AT_FDCWD, p, AT_FDCWD, p2, (unsigned)a[0]) : rename(p, p2));
		break;
	case OP_OPENDIR:
		do_opendir(c);
		break;
	case OP_READDIR:
		do_readdir(c);
		break;
	case OP_CLOSEDIR:
		do_closedir(c);
		break;
	case OP_SYMLINK:
		result(c, symlink(p2, p));
		break;
	case OP_READLINK: {
		char *buf = out_buffer(c, 65536);
		ssize_t r = readlink(p, buf, 65536);
		result(c, r);
		c->outlen = r > 0 ? (size_t)r : 0;
		break;
	}
	case OP_LINK:
		result(c, link(p, p2));
		break;
	case OP_CHMOD:
		result(c, chmod(p, (mode_t)a[0]));
		break;
	case OP_CHOWN:
		result(c, fchownat(AT_FDCWD, p, (uid_t)a[0], (gid_t)a[1], (int)a[2]));
		break;
	case OP_UTIMENS: {
		struct timespec ts[2] = {{a[0], a[1]}, {a[2], a[3]}};
		result(c, utimensat(AT_FDCWD, p, ts, (int)a[4]));
		break;
	}
	case OP_TRUNCATE:
		result(c, truncate(p, a[0]));
		break;
	case OP_ACCESS:
		result(c, faccessat(AT_FDCWD, p, (int)a[0], AT_EACCESS));
		break;
	case OP_STATFS: {
		struct statfs sf;
		int r = statfs(p, &sf);
		result(c, r);
		if (r == 0) {
			struct wire_statfs *w = (struct wire_statfs *)out_buffer(c, sizeof *w);
			*w = (struct wire_statfs){sf.f_type, sf.f_bsize, (int64_t)sf.f_blocks, (int64_t)sf.f_bfree,
						  (int64_t)sf.f_bavail, (int64_t)sf.f_files, (int64_t)sf.f_ffree,
						  sf.f_namelen, sf.f_frsize};
			c->outlen = sizeof *w;
		}
		break;
	}
	case OP_PREAD: {
		char *buf = out_buffer(c, a[1]);
		if (!buf)
			break;
		ssize_t r = pread((int)a[0], buf, (size_t)a[1], a[2]);
		result(c, r);
		c->outlen = r > 0 ? (size_t)r : 0;
		break;
	}
	case OP_PWRITE:
		result(c, pwrite((int)a[0], c->data, c->q.len[2], a[1]));
		break;
	case OP_FSTAT: {
		struct stat st;
		int r = fstat((int)a[0], &st);
		result(c, r);
		if (r == 0)
			put_stat(c, &st);
		break;
	}
	case OP_FTRUNCATE:
		result(c, ftruncate((int)a[0], a[1]));
		break;
	case OP_FSYNC:
		result(c, a[1] ? fdatasync((int)a[0]) : fsync((int)a[0]));
		break;
	case OP_FALLOCATE:
		result(c, fallocate((int)a[0], (int)a[1], a[2], a[3]));
		break;
	case OP_CLOSE:
		result(c, close((int)a[0]));
		break;
	case OP_GETXATTR: {
		char *buf = a[0] > 0 ? out_buffer(c, a[0]) : NULL;
		if (a[0] > 0 && !buf)
			break;
		ssize_t r = lgetxattr(p, p2, buf, (size_t)(a[0] > 0 ? a[0] : 0));
		result(c, r);
		c->outlen = buf && r > 0 ? (size_t)r : 0;
		break;
	}
	case OP_SETXATTR:
		result(c, lsetxattr(p, p2, c->data, c->q.len[2], (int)a[0]));
		break;
	case OP_LISTXATTR: {
		char *buf = a[0] > 0 ? out_buffer(c, a[0]) : NULL;
		if (a[0] > 0 && !buf)
			break;
		ssize_t r = llistxattr(p, buf, (size_t)(a[0] > 0 ? a[0] : 0));
		result(c, r);
		c->outlen = buf && r > 0 ? (size_t)r : 0;
		break;
	}
	case OP_REMOVEXATTR:
		result(c, lremovexattr(p, p2));
		break;
	case OP_COPYRANGE: {
		off64_t in = a[1], out = a[3];
		result(c, copy_file_range((int)a[0], &in, (int)a[2], &out, (size_t)a[4], 0));
		break;
	}
	default:
		errno = ENOSYS;
		result(c, -1);
	}
}

/* read_string reads n bytes into a NUL-terminated buffer. */
static char *read_string(uint32_t n)
{
	if (n > MAX_DATA) {
		errno = EMSGSIZE;
		die("request too large");
	}
	char *s = malloc(n + 1);
	if (!s)
		die("malloc");
	if (n > 0 && !read_full(s, n)) {
		errno = EPIPE;
		die("request cut short");
	}
	s[n] = 0;
	return s;
}

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		struct call c = {0};
		pthread_mutex_lock(&in_mu);
		if (!read_full(&c.q, sizeof c.q)) {
			pthread_mutex_unlock(&in_mu);
			return NULL;
		}
		c.str[0] = read_string(c.q.len[0]);
		c.str[1] = read_string(c.q.len[1]);
		c.data = read_string(c.q.len[2]);
		pthread_mutex_unlock(&in_mu);

		do_call(&c);

		struct reply r = {.id = c.q.id, .err = c.err, .ret = c.ret, .len = (uint32_t)c.outlen};
		pthread_mutex_lock(&out_mu);
		write_full(&r, sizeof r);
		write_full(c.out, c.outlen);
		pthread_mutex_unlock(&out_mu);
		free(c.str[0]);
		free(c.str[1]);
		free(c.data);
		free(c.out);
	}
}

int main(int argc, char **argv)
{
	if (argc > 2) {
		fprintf(stderr, "usage: callserver [ROOT]\n");
		return 2;
	}
	if (argc == 2 && (chroot(argv[1]) < 0 || chdir("/") < 0))
		die(argv[1]);
	pthread_t t[NWORKERS];
	for (int i = 0; i < NWORKERS; i++)
		if ((errno = pthread_create(&t[i], NULL, worker, NULL)) != 0)
			die("pthread_create");
	for (int i = 0; i < NWORKERS; i++)
		pthread_join(t[i], NULL);
	return 0;
}
