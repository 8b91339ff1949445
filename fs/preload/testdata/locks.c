/*
 * locks.c: advisory locks between processes, in the current directory.
 * Run natively, through the preload library and on the FUSE mount, it must
 * print the same lines: fcntl POSIX locks (conflicts, F_GETLK, splitting,
 * release on any close and on exit, F_SETLKW waiting), OFD locks, flock
 * (shared by the open file across fork) and lockf.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, ...)                                                                                               \
	do {                                                                                                           \
		if (!(cond)) {                                                                                         \
			printf("FAIL %s:%d: ", __FILE__, __LINE__);                                                    \
			printf(__VA_ARGS__);                                                                           \
			printf(" (errno %s)\n", strerror(errno));                                                      \
			failures++;                                                                                    \
		}                                                                                                      \
	} while (0)

static int setlk(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock l = {.l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len};
	return fcntl(fd, cmd, &l);
}

static int conflicts(int r) { return r < 0 && (errno == EAGAIN || errno == EACCES); }

/* child runs f in a child process and returns its exit status. */
static int child(int (*f)(void *), void *arg)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(f(arg));
	int st;
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* In a child: 0 if [start, start+len) cannot be write-locked and F_GETLK
 * names want_pid with a write lock at want_start; 1 if it can be. */
struct probe {
	off_t start, len, want_start;
	pid_t want_pid;
};
static int probe_posix(void *arg)
{
	struct probe *p = arg;
	int fd = open("locked", O_RDWR);
	if (fd < 0)
		return 9;
	if (setlk(fd, F_SETLK, F_WRLCK, p->start, p->len) == 0)
		return 1;
	if (!conflicts(-1))
		return 8;
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = p->start, .l_len = p->len};
	if (fcntl(fd, F_GETLK, &l) < 0 || l.l_type != F_WRLCK || l.l_pid != p->want_pid || l.l_start != p->want_start)
		return 7;
	return 0;
}

static int exit_holding(void *arg)
{
	int fd = open("locked", O_RDWR);
	return fd < 0 || setlk(fd, F_SETLK, F_WRLCK, 0, 0) < 0 ? 9 : 0; /* exits without unlocking */
}

static int flock_nb(void *arg)
{
	int fd = *(int *)arg;
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : 1;
}

static int flock_other(void *arg)
{
	int fd = open("locked", O_RDONLY);
	if (fd < 0)
		return 9;
	return flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : (errno == EWOULDBLOCK ? 1 : 8);
}

static int lockf_test(void *arg)
{
	int fd = open("locked", O_RDWR);
	if (fd < 0)
		return 9;
	return lockf(fd, F_TEST, 0) == 0 ? 0 : (errno == EACCES || errno == EAGAIN ? 1 : 8);
}

int main(void)
{
	int fd = open("locked", O_RDWR | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0, "create");
	CHECK(write(fd, "0123456789abcdefghij", 20) == 20, "write");
	pid_t me = getpid();

	/* POSIX: a write lock on [0, 10) blocks other processes there only. */
	CHECK(setlk(fd, F_SETLK, F_WRLCK, 0, 10) == 0, "write lock [0,10)");
	struct probe p = {5, 10, 0, me};
	CHECK(child(probe_posix, &p) == 0, "another process sees the lock on [5,15)");
	p = (struct probe){10, 10, 0, 0};
	CHECK(child(probe_posix, &p) == 1, "another process locks [10,20)");
	/* The owner's own F_GETLK sees no conflict. */
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	CHECK(fcntl(fd, F_GETLK, &l) == 0 && l.l_type == F_UNLCK, "own lock does not conflict (type %d)", l.l_type);
	/* Unlocking the middle splits the lock. */
	CHECK(setlk(fd, F_SETLK, F_UNLCK, 3, 4) == 0, "unlock [3,7)");
	p = (struct probe){3, 4, 0, 0};
	CHECK(child(probe_posix, &p) == 1, "the hole [3,7) is free");
	p = (struct probe){7, 1, 7, me};
	CHECK(child(probe_posix, &p) == 0, "[7,10) is still held");
	/* SEEK_CUR and negative lengths. */
	CHECK(lseek(fd, 15, SEEK_SET) == 15, "seek");
	struct flock back = {.l_type = F_WRLCK, .l_whence = SEEK_CUR, .l_start = 0, .l_len = -3};
	CHECK(fcntl(fd, F_SETLK, &back) == 0, "lock the 3 bytes before offset 15");
	p = (struct probe){12, 1, 12, me};
	CHECK(child(probe_posix, &p) == 0, "[12,15) held via SEEK_CUR, len -3");
	struct flock bad = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2, .l_len = -5};
	CHECK(fcntl(fd, F_SETLK, &bad) < 0 && errno == EINVAL, "a range before offset 0 is EINVAL");
	bad = (struct flock){.l_type = 7, .l_whence = SEEK_SET};
	CHECK(fcntl(fd, F_SETLK, &bad) < 0 && errno == EINVAL, "lock type 7 is EINVAL");

	/* Closing any fd of the file releases the process's locks. */
	int fd2 = open("locked", O_RDONLY);
	CHECK(fd2 >= 0 && close(fd2) == 0, "open and close a second fd");
	p = (struct probe){0, 0, 0, 0};
	CHECK(child(probe_posix, &p) == 1, "locks gone after closing another fd of the file");

	/* A lock of an exiting process goes with it. */
	CHECK(child(exit_holding, NULL) == 0, "child locks and exits");
	CHECK(setlk(fd, F_SETLK, F_WRLCK, 0, 0) == 0, "lock after the holder exited");

	/* F_SETLKW waits for the holder. */
	fflush(stdout);
	int pfd[2];
	CHECK(pipe(pfd) == 0, "pipe");
	pid_t w = fork();
	if (w == 0) {
		int cfd = open("locked", O_RDWR);
		char c = 'x';
		write(pfd[1], &c, 1);
		struct timespec t0, t1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int r = setlk(cfd, F_SETLKW, F_WRLCK, 0, 1);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
		_exit(r == 0 && ms >= 50 ? 0 : 1);
	}
	char c;
	CHECK(read(pfd[0], &c, 1) == 1, "waiter started");
	usleep(150000);
	CHECK(setlk(fd, F_SETLK, F_UNLCK, 0, 0) == 0, "release for the waiter");
	int st;
	CHECK(waitpid(w, &st, 0) == w && WIFEXITED(st) && WEXITSTATUS(st) == 0, "F_SETLKW waited, then got the lock");

	/* OFD locks belong to the open file: two opens conflict in one process. */
	int o1 = open("locked", O_RDWR), o2 = open("locked", O_RDWR);
	struct flock ofd = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 5};
	CHECK(fcntl(o1, F_OFD_SETLK, &ofd) == 0, "OFD lock via the first open");
	ofd.l_type = F_RDLCK;
	CHECK(fcntl(o2, F_OFD_SETLK, &ofd) < 0 && conflicts(-1), "OFD lock via a second open conflicts");
	struct flock q = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	CHECK(fcntl(o2, F_OFD_GETLK, &q) == 0 && q.l_type == F_WRLCK && q.l_pid == -1, "OFD F_GETLK: type %d pid %d",
	      q.l_type, q.l_pid);
	close(o1);
	ofd.l_type = F_WRLCK;
	CHECK(fcntl(o2, F_OFD_SETLK, &ofd) == 0, "OFD lock free after the first open closed");
	close(o2);

	/* flock: per open file, inherited across fork, apart from fcntl locks. */
	int f1 = open("locked", O_RDONLY);
	CHECK(flock(f1, LOCK_EX | LOCK_NB) == 0, "flock LOCK_EX");
	CHECK(child(flock_other, NULL) == 1, "another open file cannot flock");
	CHECK(child(flock_nb, &f1) == 0, "a child shares the inherited open file's flock");
	CHECK(setlk(fd, F_SETLK, F_WRLCK, 0, 0) == 0, "fcntl lock beside flock");
	CHECK(flock(f1, LOCK_UN) == 0, "flock LOCK_UN");
	CHECK(child(flock_other, NULL) == 0, "flock free after LOCK_UN");
	close(f1);

	/* lockf is a POSIX lock from the current offset. */
	CHECK(setlk(fd, F_SETLK, F_UNLCK, 0, 0) == 0, "unlock all");
	CHECK(lseek(fd, 0, SEEK_SET) == 0 && lockf(fd, F_LOCK, 0) == 0, "lockf F_LOCK");
	CHECK(child(lockf_test, NULL) == 1, "lockf F_TEST in another process sees it");
	CHECK(lockf(fd, F_ULOCK, 0) == 0, "lockf F_ULOCK");
	CHECK(child(lockf_test, NULL) == 0, "lockf F_TEST after F_ULOCK");

	close(fd);
	unlink("locked");
	if (failures) {
		printf("%d failures\n", failures);
		return 1;
	}
	printf("locks ok\n");
	return 0;
}
