/* preadloop.c: FILE N: N random 4 KiB preads over FILE (which must be at
 * least 4 MiB); prints "ns/op <value>". The benchmark of docs/bench-preload.md. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	int fd = open(argv[1], O_RDONLY);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	long n = atol(argv[2]);
	off_t size = lseek(fd, 0, SEEK_END);
	long blocks = size / 4096;
	if (blocks < 1)
		return 1;
	char buf[4096];
	unsigned long x = 88172645463325252ull;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (pread(fd, buf, sizeof buf, (off_t)(x % blocks) * 4096) != sizeof buf) {
			perror("pread");
			return 1;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	printf("ns/op %.0f\n", ns / n);
	return 0;
}
