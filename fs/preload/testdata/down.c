/* down.c FILE: opens FILE, says "opened", waits for stdin to close (the
 * test kills the service meanwhile), then tries calls on the file and its
 * path and reports each errno and how long the call took. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *what, long r, double t0)
{
	printf("%s: %s%s in %.2fs\n", what, r < 0 && errno == EIO ? "EIO" : "", r < 0 ? "" : "success", now() - t0);
}

int main(int argc, char **argv)
{
	int fd = open(argv[1], O_CREAT | O_RDWR, 0644);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	printf("opened\n");
	fflush(stdout);
	char c;
	while (read(0, &c, 1) > 0)
		;
	double t0 = now();
	report("write", write(fd, "x", 1), t0);
	t0 = now();
	report("read", pread(fd, &c, 1, 0), t0);
	struct stat st;
	t0 = now();
	report("stat", stat(argv[1], &st), t0);
	t0 = now();
	report("open", open("other", O_CREAT | O_RDWR, 0644), t0);
	return 0;
}
