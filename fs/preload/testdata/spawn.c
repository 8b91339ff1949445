/*
 * spawn.c: children started by system, popen and posix_spawn inherit the
 * caller's files. Run in an empty directory: stdout becomes the file "log"
 * there, then
 *   - system("echo system") writes to it;
 *   - popen(..., "r") reads a child's output, popen(..., "w") feeds
 *     "cat > piped";
 *   - posix_spawnp with file actions (open "spawned" on fd 3, dup2 3 -> 2,
 *     close 3) sends the child's stderr to "spawned", its stdout to log;
 *   - posix_spawnp with POSIX_SPAWN_SETSIGMASK: the child's blocked mask
 *     has SIGUSR1 (grep SigBlk /proc/self/status);
 *   - a missing program and a failing open action are reported as
 *     posix_spawn's return value (ENOENT).
 * Every step's result goes to log as well; stderr gets "ok" at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void die(const char *what, int e)
{
	fprintf(stderr, "%s: %s\n", what, strerror(e));
	exit(1);
}

static int wait_child(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid", errno);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int main(void)
{
	int fd = open("log", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || dup2(fd, 1) < 0)
		die("log", errno);
	close(fd);

	fflush(stdout);
	int st = system("echo system");
	printf("system status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	FILE *r = popen("echo popen-r; exit 3", "r");
	if (!r)
		die("popen r", errno);
	char line[128] = "";
	if (!fgets(line, sizeof line, r))
		die("popen read", errno);
	st = pclose(r);
	printf("read %s", line);
	printf("pclose r status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);

	FILE *w = popen("cat > piped", "w");
	if (!w)
		die("popen w", errno);
	fputs("popen-w\n", w);
	st = pclose(w);
	printf("pclose w status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	fflush(stdout);

	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 3, "spawned", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_adddup2(&fa, 3, 2);
	posix_spawn_file_actions_addclose(&fa, 3);
	char *sh1[] = {"sh", "-c", "echo spawn-out; echo spawn-err >&2; if [ -e /proc/$$/fd/3 ]; then echo fd3-open; else echo fd3-closed; fi", NULL};
	pid_t pid;
	int e = posix_spawnp(&pid, "sh", &fa, NULL, sh1, environ);
	if (e)
		die("posix_spawnp with file actions", e);
	printf("spawn status %d\n", wait_child(pid));
	posix_spawn_file_actions_destroy(&fa);
	fflush(stdout);

	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	posix_spawnattr_setsigmask(&at, &mask);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK);
	char *grep[] = {"grep", "SigBlk", "/proc/self/status", NULL};
	if ((e = posix_spawnp(&pid, "grep", NULL, &at, grep, environ)) != 0)
		die("posix_spawnp with attributes", e);
	printf("attr status %d\n", wait_child(pid));
	posix_spawnattr_destroy(&at);
	fflush(stdout);

	char *none[] = {"no-such-program-polytropon", NULL};
	e = posix_spawnp(&pid, none[0], NULL, NULL, none, environ);
	printf("missing program: %s\n", strerror(e));

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "no/such/dir/f", O_WRONLY | O_CREAT, 0644);
	char *t[] = {"true", NULL};
	e = posix_spawnp(&pid, "true", &fa, NULL, t, environ);
	printf("failing open action: %s\n", strerror(e));
	posix_spawn_file_actions_destroy(&fa);
	fflush(stdout);
	fprintf(stderr, "ok\n");
	return 0;
}
