/* clone.c FILE: opens FILE, clone()s a child (no CLONE_VM) that writes a
 * line through the inherited fd, waits for it, then writes a line itself. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int fd;

static int child(void *arg)
{
	const char *m = "from the clone child\n";
	return write(fd, m, strlen(m)) == (ssize_t)strlen(m) ? 0 : 1;
}

int main(int argc, char **argv)
{
	fd = open(argv[1], O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0) {
		perror("open");
		return 1;
	}
	char *stack = malloc(1 << 16);
	int pid = clone(child, stack + (1 << 16), SIGCHLD, NULL);
	if (pid < 0) {
		perror("clone");
		return 1;
	}
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "child failed: status %#x\n", st);
		return 1;
	}
	if (write(fd, "parent\n", 7) != 7 || close(fd) != 0) {
		perror("write");
		return 1;
	}
	return 0;
}
