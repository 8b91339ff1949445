/* conform.c: POSIX behaviour checks run through the preload library (and
 * natively, as a reference). Usage: conform DIR (an empty writable
 * directory). Prints one line per check; exits with the number of failures. */
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

/* ERR: the call returned -1 with errno e. */
#define ERR(name, call, e)                                                           \
	do {                                                                         \
		errno = 0;                                                           \
		long r_ = (long)(call);                                              \
		CHECK(name, r_ == -1 && errno == (e), "got %ld, want -1/%s", r_, strerror(e)); \
	} while (0)

static int has_name(const char *dir, const char *name)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	struct dirent *e;
	int found = 0;
	while ((e = readdir(d)))
		if (!strcmp(e->d_name, name))
			found = 1;
	closedir(d);
	return found;
}

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

	ERR("open missing: ENOENT", open("missing", O_RDONLY), ENOENT);
	int fd = open("f1", O_CREAT | O_EXCL | O_RDWR, 0644);
	CHECK("create", fd >= 0, "open f1");
	ERR("create again: EEXIST", open("f1", O_CREAT | O_EXCL | O_RDWR, 0644), EEXIST);
	CHECK("write", write(fd, "hello world", 11) == 11, "write");
	CHECK("lseek cur", lseek(fd, 0, SEEK_CUR) == 11, "offset");
	CHECK("lseek set", lseek(fd, 6, SEEK_SET) == 6, "seek");
	memset(buf, 0, sizeof buf);
	CHECK("read at offset", read(fd, buf, 100) == 5 && !strcmp(buf, "world"), "read %s", buf);
	CHECK("read at eof", read(fd, buf, 100) == 0, "eof");
	CHECK("pwrite", pwrite(fd, "HELLO", 5, 0) == 5, "pwrite");
	memset(buf, 0, sizeof buf);
	CHECK("pread", pread(fd, buf, 11, 0) == 11 && !strcmp(buf, "HELLO world"), "pread %s", buf);
	CHECK("fstat size", fstat(fd, &st) == 0 && st.st_size == 11 && S_ISREG(st.st_mode), "size %ld", (long)st.st_size);
	CHECK("fstat mode", (st.st_mode & 0777) == 0644, "mode %o", st.st_mode & 0777);
	struct iovec iov[2] = {{"ab", 2}, {"cd", 2}};
	CHECK("pwritev", pwritev(fd, iov, 2, 11) == 4, "pwritev");
	char a[3] = {0}, b[3] = {0};
	struct iovec riov[2] = {{a, 2}, {b, 2}};
	CHECK("preadv", preadv(fd, riov, 2, 11) == 4 && !strcmp(a, "ab") && !strcmp(b, "cd"), "preadv %s %s", a, b);
	int fd2 = dup(fd);
	CHECK("dup", fd2 >= 0 && fd2 != fd, "dup");
	lseek(fd, 1, SEEK_SET);
	CHECK("dup shares offset", lseek(fd2, 0, SEEK_CUR) == 1, "offset %ld", (long)lseek(fd2, 0, SEEK_CUR));
	CHECK("dup2", dup2(fd, 50) == 50 && lseek(50, 0, SEEK_CUR) == 1, "dup2");
	CHECK("F_GETFL", (fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDWR, "flags %x", fcntl(fd, F_GETFL));
	CHECK("F_SETFD", fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && fcntl(fd, F_GETFD) == FD_CLOEXEC, "cloexec");
	CHECK("ftruncate", ftruncate(fd, 5) == 0 && fstat(fd2, &st) == 0 && st.st_size == 5, "size %ld", (long)st.st_size);
	CHECK("close", close(fd) == 0 && close(fd2) == 0 && close(50) == 0, "close");
	ERR("close again: EBADF", close(fd), EBADF);
	ERR("read closed: EBADF", read(fd, buf, 1), EBADF);
	CHECK("truncate", truncate("f1", 3) == 0 && stat("f1", &st) == 0 && st.st_size == 3, "size %ld", (long)st.st_size);

	fd = open("f1", O_WRONLY);
	ERR("read write-only: EBADF", read(fd, buf, 1), EBADF);
	close(fd);
	fd = open("f1", O_RDONLY);
	ERR("write read-only: EBADF", write(fd, "x", 1), EBADF);
	close(fd);
	fd = open("f1", O_WRONLY | O_APPEND);
	CHECK("append", write(fd, "XYZ", 3) == 3 && stat("f1", &st) == 0 && st.st_size == 6, "size %ld", (long)st.st_size);
	close(fd);

	ERR("open file/x: ENOTDIR", open("f1/x", O_RDONLY), ENOTDIR);
	ERR("stat file/x: ENOTDIR", stat("f1/x", &st), ENOTDIR);
	CHECK("mkdir", mkdir("d1", 0755) == 0, "mkdir");
	ERR("mkdir again: EEXIST", mkdir("d1", 0755), EEXIST);
	ERR("mkdir over file: EEXIST", mkdir("f1", 0755), EEXIST);
	ERR("open dir for writing: EISDIR", open("d1", O_WRONLY), EISDIR);
	ERR("mkdir missing parent: ENOENT", mkdir("nope/d", 0755), ENOENT);
	fd = open("d1/inner", O_CREAT | O_WRONLY, 0600);
	CHECK("create in dir", fd >= 0 && close(fd) == 0, "create");
	ERR("rmdir non-empty: ENOTEMPTY", rmdir("d1"), ENOTEMPTY);
	ERR("rmdir file: ENOTDIR", rmdir("f1"), ENOTDIR);
	ERR("unlink dir: EISDIR", unlink("d1"), EISDIR);
	ERR("unlink missing: ENOENT", unlink("missing"), ENOENT);
	CHECK("readdir", has_name("d1", "inner") == 1 && has_name(".", "d1") == 1 && has_name(".", "f1") == 1, "names");
	CHECK("readdir . and ..", dots_ok("d1", "."), "dot entries of d1");
	ERR("opendir missing: ENOENT", opendir("missing") ? 0 : -1, ENOENT);
	ERR("opendir file: ENOTDIR", opendir("f1") ? 0 : -1, ENOTDIR);

	CHECK("rename", rename("f1", "f2") == 0 && access("f2", F_OK) == 0, "rename");
	ERR("renamed source: ENOENT", access("f1", F_OK), ENOENT);
	ERR("rename missing: ENOENT", rename("f1", "f3"), ENOENT);
	mkdir("d2", 0755);
	ERR("rename dir over non-empty dir: ENOTEMPTY", rename("d2", "d1"), ENOTEMPTY);
	ERR("rename dir over file: ENOTDIR", rename("d2", "f2"), ENOTDIR);
	ERR("rename file over dir: EISDIR", rename("f2", "d2"), EISDIR);
	CHECK("rmdir", rmdir("d2") == 0, "rmdir");

	CHECK("symlink", symlink("f2", "l1") == 0, "symlink");
	ERR("symlink exists: EEXIST", symlink("f2", "l1"), EEXIST);
	memset(buf, 0, sizeof buf);
	CHECK("readlink", readlink("l1", buf, sizeof buf) == 2 && !strcmp(buf, "f2"), "target %s", buf);
	CHECK("lstat link", lstat("l1", &st) == 0 && S_ISLNK(st.st_mode), "mode %o", st.st_mode);
	CHECK("stat follows", stat("l1", &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 6, "mode %o", st.st_mode);
	ERR("readlink file: EINVAL", readlink("f2", buf, sizeof buf), EINVAL);
	CHECK("link", link("f2", "h1") == 0 && stat("f2", &st) == 0 && st.st_nlink == 2, "nlink %ld", (long)st.st_nlink);
	CHECK("chmod", chmod("f2", 0600) == 0 && stat("f2", &st) == 0 && (st.st_mode & 0777) == 0600, "mode %o", st.st_mode);
	struct timespec ts[2] = {{1000000000, 0}, {1234567890, 0}};
	CHECK("utimensat", utimensat(AT_FDCWD, "f2", ts, 0) == 0 && stat("f2", &st) == 0 && st.st_mtime == 1234567890,
	      "mtime %ld", (long)st.st_mtime);
	CHECK("access ok", access("f2", R_OK | W_OK) == 0, "access");

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
	CHECK("chdir ..", chdir("..") == 0 && access("f2", F_OK) == 0, "chdir ..");

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
