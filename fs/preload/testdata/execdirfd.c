/*
 * execdirfd.c: a directory fd survives exec with its path. Run as
 * "execdirfd DIR": opens DIR, keeps the fd across exec of itself, then the
 * new image reads DIR/f through openat(fd) and, after fchdir(fd), by a
 * relative name, and creates DIR/g with mkdirat/openat.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int slurp(int fd, char *buf, size_t n)
{
	ssize_t r = read(fd, buf, n - 1);
	close(fd);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 2) {
		int fd = open(argv[1], O_RDONLY | O_DIRECTORY);
		if (fd < 0) {
			perror("open dir");
			return 1;
		}
		char num[16];
		snprintf(num, sizeof num, "%d", fd);
		execl("/proc/self/exe", argv[0], argv[1], num, (char *)NULL);
		perror("exec");
		return 1;
	}
	int fd = atoi(argv[2]);
	char buf[256];
	int f = openat(fd, "f", O_RDONLY);
	if (f < 0 || slurp(f, buf, sizeof buf) < 0) {
		printf("openat after exec: %s\n", strerror(errno));
		return 1;
	}
	printf("openat: %s", buf);
	if (mkdirat(fd, "g", 0755) < 0) {
		printf("mkdirat after exec: %s\n", strerror(errno));
		return 1;
	}
	struct stat st;
	if (fstatat(fd, "g", &st, 0) < 0 || !S_ISDIR(st.st_mode)) {
		printf("fstatat after exec: %s\n", strerror(errno));
		return 1;
	}
	if (fchdir(fd) < 0) {
		printf("fchdir after exec: %s\n", strerror(errno));
		return 1;
	}
	f = open("f", O_RDONLY);
	if (f < 0 || slurp(f, buf, sizeof buf) < 0) {
		printf("open after fchdir: %s\n", strerror(errno));
		return 1;
	}
	printf("fchdir: %s", buf);
	char cwd[4096];
	if (!getcwd(cwd, sizeof cwd)) {
		printf("getcwd: %s\n", strerror(errno));
		return 1;
	}
	const char *base = strrchr(cwd, '/');
	printf("cwd ends in %s\n", base ? base : cwd);
	return 0;
}
