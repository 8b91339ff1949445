/* emulated.c: POSIX behaviour that the preload library implements in the
 * calling process, outside the libservice API that fs/fstest checks through
 * testdata/callserver.c: file offsets (read, write, lseek, O_APPEND),
 * vectored I/O, dup, dup2 and fcntl, read and write on closed or wrong-mode
 * fds, *at calls relative to a directory fd and fdopendir, readdir's "."
 * and "..", the working directory, stdio streams, the mmap emulation and
 * POSIX aio. Run natively too, as a reference. Usage: emulated DIR (an
 * empty writable directory). Prints one line per check; exits with the
 * number of failures. */
#define _GNU_SOURCE
#include <aio.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static int fails;

#define CHECK(name, cond, ...)                                       \
	do {                                                         \
		if (cond) {                                          \
			printf("ok   %s\n", name);                   \
		} else {                                             \
			printf("FAIL %s: ", name);                   \
			printf(__VA_ARGS__);                         \
			printf(" (errno %s)\n", strerror(errno));    \
			fails++;                                     \
		}                                                    \
	} while (0)

/* SETUP: a step the checks below rely on (its behaviour is checked by
 * fs/fstest); the program stops when it fails. */
#define SETUP(cond, what)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			printf("FAIL setup %s (errno %s)\n", what, strerror(errno)); \
			exit(100);                                            \
		}                                                             \
	} while (0)

/* ERR: the call returned -1 with errno e. */
#define ERR(name, call, e)                                                           \
	do {                                                                         \
		errno = 0;                                                           \
		long r_ = (long)(call);                                              \
		CHECK(name, r_ == -1 && errno == (e), "got %ld, want -1/%s", r_, strerror(e)); \
	} while (0)

/* dots_ok: readdir of dir lists "." and ".." once each, with the inodes
 * of dir and of parent. */
static int dots_ok(const char *dir, const char *parent)
{
	struct stat sd, sp;
	if (stat(dir, &sd) < 0 || stat(parent, &sp) < 0)
		return 0;
	DIR *d = opendir(dir);
	if (!d)
		return 0;
	int dot = 0, dotdot = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, "."))
			dot += e->d_ino == sd.st_ino && e->d_type == DT_DIR ? 1 : 100;
		if (!strcmp(e->d_name, ".."))
			dotdot += e->d_ino == sp.st_ino && e->d_type == DT_DIR ? 1 : 100;
	}
	closedir(d);
	return dot == 1 && dotdot == 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || chdir(argv[1]) < 0) {
		perror("chdir");
		return 100;
	}
	char buf[256];
	struct stat st;

	/* Offsets of an fd. */
	int fd = open("f1", O_CREAT | O_EXCL | O_RDWR, 0644);
	SETUP(fd >= 0, "create f1");
	CHECK("write", write(fd, "hello world", 11) == 11, "write");
	CHECK("lseek cur", lseek(fd, 0, SEEK_CUR) == 11, "offset");
	CHECK("lseek set", lseek(fd, 6, SEEK_SET) == 6, "seek");
	memset(buf, 0, sizeof buf);
	CHECK("read at offset", read(fd, buf, 100) == 5 && !strcmp(buf, "world"), "read %s", buf);
	CHECK("read at eof", read(fd, buf, 100) == 0, "eof");
	SETUP(pwrite(fd, "HELLO", 5, 0) == 5, "pwrite");

	/* Vectored I/O. */
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	CHECK("pwritev", pwritev(fd, iov, 2, 11) == 4, "pwritev");
	char a[3] = {0}, b[3] = {0};
	struct iovec riov[2] = {{a, 2}, {b, 2}};
	CHECK("preadv", preadv(fd, riov, 2, 11) == 4 && !strcmp(a, "ab") && !strcmp(b, "cd"), "preadv %s %s", a, b);

	/* dup, dup2, fcntl. */
	int fd2 = dup(fd);
	CHECK("dup", fd2 >= 0 && fd2 != fd, "dup");
	lseek(fd, 1, SEEK_SET);
	CHECK("dup shares offset", lseek(fd2, 0, SEEK_CUR) == 1, "offset %ld", (long)lseek(fd2, 0, SEEK_CUR));
	CHECK("dup2", dup2(fd, 50) == 50 && lseek(50, 0, SEEK_CUR) == 1, "dup2");
	CHECK("F_GETFL", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "flags %x", fcntl(fd, F_GETFL));
	CHECK("F_SETFD", fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "cloexec");
	CHECK("ftruncate seen through a dup", ftruncate(fd, 5) == 0 && fstat(fd2, &st) == 0 && st.st_size == 5,
	      "size %ld", (long)st.st_size);
	CHECK("close", close(fd) == 0 && close(fd2) == 0 && close(50) == 0, "close");
	ERR("read closed: EBADF", read(fd, buf, 1), EBADF);

	/* read and write against the access mode; write with O_APPEND. */
	SETUP(truncate("f1", 3) == 0, "truncate f1");
	fd = open("f1", O_WRONLY);
	ERR("read write-only: EBADF", read(fd, buf, 1), EBADF);
	close(fd);
	fd = open("f1", O_RDONLY);
	ERR("write read-only: EBADF", write(fd, "x", 1), EBADF);
	close(fd);
	fd = open("f1", O_WRONLY | O_APPEND);
	CHECK("append", write(fd, "XYZ", 3) == 3 && stat("f1", &st) == 0 && st.st_size == 6, "size %ld", (long)st.st_size);
	close(fd);

	/* readdir's dot entries. */
	SETUP(mkdir("d1", 0755) == 0, "mkdir d1");
	fd = open("d1/inner", O_CREAT | O_WRONLY, 0600);
	SETUP(fd >= 0 && close(fd) == 0, "create d1/inner");
	CHECK("readdir . and ..", dots_ok("d1", "."), "dot entries of d1");

	/* *at calls relative to a directory fd. */
	int dfd = open("d1", O_RDONLY | O_DIRECTORY);
	CHECK("openat", dfd >= 0 && (fd = openat(dfd, "inner", O_RDONLY)) >= 0 && close(fd) == 0, "openat");
	CHECK("fstatat", fstatat(dfd, "inner", &st, 0) == 0 && S_ISREG(st.st_mode), "fstatat");
	CHECK("mkdirat+unlinkat", mkdirat(dfd, "sub", 0755) == 0 && unlinkat(dfd, "sub", AT_REMOVEDIR) == 0, "at");
	DIR *dd = fdopendir(dfd);
	int n = 0;
	struct dirent *de;
	while (dd && (de = readdir(dd)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	CHECK("fdopendir", dd && n == 1, "entries %d", n);
	if (dd)
		closedir(dd);

	/* cwd */
	CHECK("chdir relative", chdir("d1") == 0 && access("inner", F_OK) == 0, "chdir");
	char cwd[4096];
	CHECK("getcwd", getcwd(cwd, sizeof cwd) && strlen(cwd) > 3 && !strcmp(cwd + strlen(cwd) - 3, "/d1"), "cwd %s", cwd);
	CHECK("chdir ..", chdir("..") == 0 && access("f1", F_OK) == 0, "chdir ..");

	/* stdio */
	FILE *fp = fopen("s1", "w");
	CHECK("fopen w", fp && fprintf(fp, "line %d\n", 42) > 0 && fileno(fp) >= 0 && fclose(fp) == 0, "fopen");
	fp = fopen("s1", "r");
	memset(buf, 0, sizeof buf);
	CHECK("fopen r", fp && fgets(buf, sizeof buf, fp) && !strcmp(buf, "line 42\n"), "got %s", buf);
	if (fp)
		fclose(fp);
	fp = fopen("s1", "a+");
	CHECK("fopen a+", fp && fputs("more\n", fp) >= 0 && fseek(fp, 0, SEEK_SET) == 0 && fgets(buf, sizeof buf, fp) &&
				 !strcmp(buf, "line 42\n") && fclose(fp) == 0, "got %s", buf);
	CHECK("fopen missing", fopen("missing", "r") == NULL && errno == ENOENT, "fopen");

	/* mmap: read a file, write through a shared mapping. */
	fd = open("m1", O_CREAT | O_RDWR, 0644);
	write(fd, "0123456789", 10);
	char *m = mmap(NULL, 10, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK("mmap read", m != MAP_FAILED && !memcmp(m, "0123456789", 10), "mmap");
	if (m != MAP_FAILED) {
		m[0] = 'X';
		CHECK("msync", msync(m, 10, MS_SYNC) == 0, "msync");
		memset(buf, 0, sizeof buf);
		pread(fd, buf, 10, 0);
		CHECK("mmap write-back", buf[0] == 'X', "got %s", buf);
		munmap(m, 10);
	}
	close(fd);

	/* POSIX aio (glibc's aio threads call the internal pread, not the
	 * interposed one). */
	fd = open("a1", O_CREAT | O_RDWR, 0644);
	struct aiocb cb;
	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_buf = "aio data";
	cb.aio_nbytes = 8;
	const struct aiocb *list[1] = {&cb};
	CHECK("aio_write", aio_write(&cb) == 0 && aio_suspend(list, 1, NULL) == 0 && aio_error(&cb) == 0 &&
				   aio_return(&cb) == 8, "aio_write");
	memset(buf, 0, sizeof buf);
	memset(&cb, 0, sizeof cb);
	cb.aio_fildes = fd;
	cb.aio_buf = buf;
	cb.aio_nbytes = 100;
	CHECK("aio_read", aio_read(&cb) == 0 && aio_suspend(list, 1, NULL) == 0 && aio_error(&cb) == 0 &&
				  aio_return(&cb) == 8 && !strcmp(buf, "aio data"), "got %s", buf);
	close(fd);

	printf("%d failures\n", fails);
	return fails;
}
