/*
 * spawn.c: posix_spawn, popen and system for processes that hold library
 * state (library fds, or a cwd inside a mount).
 *
 * glibc runs all three through its internal spawn (clone(CLONE_VM |
 * CLONE_VFORK) and internal close/dup2/open calls), which never reaches
 * the library: the child would start without the fork protocol, so a
 * library fd it inherits (a shell's stdout redirected into the pool, say)
 * is only the /dev/null placeholder there. When this process has such
 * state, the three are done here with the library's fork and exec:
 *
 *   - posix_spawn(p): the file actions are recorded as the program adds
 *     them (posix_spawn_file_actions_t is opaque; the add functions are
 *     interposed and still call libc, so libc's spawn keeps working) and
 *     replayed in the child through the library's open/close/dup2/chdir;
 *     attributes are read back with the public getters. A failed action
 *     or exec is reported to the parent through a close-on-exec pipe, as
 *     posix_spawn's return value, and the child is reaped;
 *   - popen/pclose: a pipe, fork, "sh -c" in the child; the streams made
 *     here are remembered (pid per FILE) so pclose waits for the right
 *     child and later children close them (POSIX);
 *   - system: fork, "sh -c", SIGCHLD blocked and SIGINT/SIGQUIT ignored
 *     in the caller while it waits.
 *
 * Without library state, or for file actions added by code the library
 * did not see, the calls go to libc unchanged.
 */
#include "poly.h"

#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

extern char **environ;

/* needs_hook: the child must inherit library state through fork/exec. */
static int needs_hook(void)
{
	return poly_active && !poly_dead && (lfd_count() > 0 || poly_cwd_ours);
}

/* ---- file actions, recorded beside libc's opaque object ---- */

enum { ACT_CLOSE, ACT_DUP2, ACT_OPEN, ACT_CHDIR, ACT_FCHDIR, ACT_CLOSEFROM, ACT_TCSETPGRP };

struct spawn_act {
	int kind;
	int fd, newfd; /* newfd: dup2 target */
	int oflag;
	mode_t mode;
	char *path; /* open, chdir */
};

struct fa_rec {
	const posix_spawn_file_actions_t *fa;
	struct spawn_act *acts;
	int n, cap;
	int broken; /* an action could not be recorded: use libc's spawn */
	struct fa_rec *next;
};

static pthread_mutex_t fa_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fa_rec *fa_list;

/* Preconditions: fa_mu held. */
static struct fa_rec **fa_find_locked(const posix_spawn_file_actions_t *fa)
{
	struct fa_rec **pp = &fa_list;
	while (*pp && (*pp)->fa != fa)
		pp = &(*pp)->next;
	return pp;
}

static void fa_free(struct fa_rec *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->acts[i].path);
	free(r->acts);
	free(r);
}

static void fa_drop(const posix_spawn_file_actions_t *fa)
{
	pthread_mutex_lock(&fa_mu);
	struct fa_rec **pp = fa_find_locked(fa);
	struct fa_rec *r = *pp;
	if (r)
		*pp = r->next;
	pthread_mutex_unlock(&fa_mu);
	if (r)
		fa_free(r);
}

/* fa_add appends an action libc accepted. */
static void fa_add(const posix_spawn_file_actions_t *fa, struct spawn_act a, const char *path)
{
	pthread_mutex_lock(&fa_mu);
	struct fa_rec *r = *fa_find_locked(fa);
	if (!r) {
		pthread_mutex_unlock(&fa_mu);
		return; /* not seen from init on: libc spawns */
	}
	if (path && !(a.path = strdup(path)))
		r->broken = 1;
	if (!r->broken && r->n == r->cap) {
		int cap = r->cap ? 2 * r->cap : 8;
		struct spawn_act *na = realloc(r->acts, (size_t)cap * sizeof *na);
		if (na) {
			r->acts = na;
			r->cap = cap;
		} else {
			r->broken = 1;
		}
	}
	if (r->broken)
		free(a.path);
	else
		r->acts[r->n++] = a;
	pthread_mutex_unlock(&fa_mu);
}

/* fa_get copies the recorded actions of fa; -1 when there is no complete
 * record (libc must spawn), else the count (*out is malloc'ed or NULL). */
static int fa_get(const posix_spawn_file_actions_t *fa, struct spawn_act **out)
{
	*out = NULL;
	pthread_mutex_lock(&fa_mu);
	struct fa_rec *r = *fa_find_locked(fa);
	int n = -1;
	if (r && !r->broken) {
		n = r->n;
		if (n > 0 && (*out = malloc((size_t)n * sizeof **out)) != NULL) {
			memcpy(*out, r->acts, (size_t)n * sizeof **out);
		} else if (n > 0) {
			n = -1;
		}
	}
	pthread_mutex_unlock(&fa_mu);
	return n;
}

/* fa_start gives fa an empty record: a spawn with no action added is
 * done here too. */
static void fa_start(const posix_spawn_file_actions_t *fa)
{
	struct fa_rec *r = calloc(1, sizeof *r);
	if (!r)
		return; /* no record: libc spawns */
	r->fa = fa;
	pthread_mutex_lock(&fa_mu);
	r->next = fa_list;
	fa_list = r;
	pthread_mutex_unlock(&fa_mu);
}

POLY_EXPORT int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa)
{
	fa_drop(fa); /* a re-used object without destroy */
	int r = REAL(posix_spawn_file_actions_init)(fa);
	if (r == 0)
		fa_start(fa);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa)
{
	fa_drop(fa);
	return REAL(posix_spawn_file_actions_destroy)(fa);
}

POLY_EXPORT int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd)
{
	int r = REAL(posix_spawn_file_actions_addclose)(fa, fd);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_CLOSE, .fd = fd}, NULL);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd)
{
	int r = REAL(posix_spawn_file_actions_adddup2)(fa, fd, newfd);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_DUP2, .fd = fd, .newfd = newfd}, NULL);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_addopen(posix_spawn_file_actions_t *fa, int fd, const char *path,
						 int oflag, mode_t mode)
{
	int r = REAL(posix_spawn_file_actions_addopen)(fa, fd, path, oflag, mode);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_OPEN, .fd = fd, .oflag = oflag, .mode = mode}, path);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *fa, const char *path)
{
	int r = REAL(posix_spawn_file_actions_addchdir_np)(fa, path);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_CHDIR}, path);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_addfchdir_np(posix_spawn_file_actions_t *fa, int fd)
{
	int r = REAL(posix_spawn_file_actions_addfchdir_np)(fa, fd);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_FCHDIR, .fd = fd}, NULL);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *fa, int from)
{
	int r = REAL(posix_spawn_file_actions_addclosefrom_np)(fa, from);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_CLOSEFROM, .fd = from}, NULL);
	return r;
}

POLY_EXPORT int posix_spawn_file_actions_addtcsetpgrp_np(posix_spawn_file_actions_t *fa, int fd)
{
	int r = REAL(posix_spawn_file_actions_addtcsetpgrp_np)(fa, fd);
	if (r == 0)
		fa_add(fa, (struct spawn_act){.kind = ACT_TCSETPGRP, .fd = fd}, NULL);
	return r;
}

/* ---- the child side ---- */

/* REPORT_FD_MIN: the child's report pipe is moved to the lowest free fd
 * from here on. */
#define REPORT_FD_MIN 1000

/* run_action does one file action with the library's calls, keeping the
 * report pipe rp open; 0 or errno. */
static int run_action(const struct spawn_act *a, int rp)
{
	switch (a->kind) {
	case ACT_CLOSE:
		if (a->fd == rp)
			return 0; /* not open as far as the program knows */
		/* posix_spawn ignores closing an fd that is not open. */
		if (close(a->fd) < 0 && errno != EBADF)
			return errno;
		return 0;
	case ACT_DUP2:
		if (a->fd == a->newfd) {
			/* POSIX: dup2 to itself clears close-on-exec. */
			int fl = fcntl(a->fd, F_GETFD);
			if (fl < 0 || fcntl(a->fd, F_SETFD, fl & ~FD_CLOEXEC) < 0)
				return errno;
			return 0;
		}
		return dup2(a->fd, a->newfd) < 0 ? errno : 0;
	case ACT_OPEN: {
		int fd = open(a->path, a->oflag, a->mode);
		if (fd < 0)
			return errno;
		if (fd != a->fd) {
			int r = dup2(fd, a->fd);
			int e = errno;
			close(fd);
			if (r < 0)
				return e;
		}
		return 0;
	}
	case ACT_CHDIR:
		return chdir(a->path) < 0 ? errno : 0;
	case ACT_FCHDIR:
		return fchdir(a->fd) < 0 ? errno : 0;
	case ACT_CLOSEFROM:
		if (a->fd > rp) {
			closefrom(a->fd);
		} else {
			if (a->fd < rp)
				close_range((unsigned)a->fd, (unsigned)rp - 1, 0);
			close_range((unsigned)rp + 1, ~0u, 0);
		}
		return 0;
	case ACT_TCSETPGRP:
		return tcsetpgrp(a->fd, getpgrp()) < 0 ? errno : 0;
	}
	return EINVAL;
}

/* apply_attr sets up the child as posix_spawn's attributes ask, but for
 * the signal mask, set last; 0 or errno. */
static int apply_attr(const posix_spawnattr_t *attr)
{
	short flags = 0;
	if (attr)
		posix_spawnattr_getflags(attr, &flags);
	if (flags & POSIX_SPAWN_SETSIGDEF) {
		sigset_t def;
		posix_spawnattr_getsigdefault(attr, &def);
		struct sigaction sa = {.sa_handler = SIG_DFL};
		for (int s = 1; s < NSIG; s++)
			if (sigismember(&def, s) == 1)
				sigaction(s, &sa, NULL);
	}
	if ((flags & POSIX_SPAWN_SETSID) && setsid() < 0)
		return errno;
	if (flags & POSIX_SPAWN_SETPGROUP) {
		pid_t pg = 0;
		posix_spawnattr_getpgroup(attr, &pg);
		if (setpgid(0, pg) < 0)
			return errno;
	}
	if (flags & POSIX_SPAWN_SETSCHEDULER) {
		int pol = 0;
		struct sched_param sp = {0};
		posix_spawnattr_getschedpolicy(attr, &pol);
		posix_spawnattr_getschedparam(attr, &sp);
		if (sched_setscheduler(0, pol, &sp) < 0)
			return errno;
	} else if (flags & POSIX_SPAWN_SETSCHEDPARAM) {
		struct sched_param sp = {0};
		posix_spawnattr_getschedparam(attr, &sp);
		if (sched_setparam(0, &sp) < 0)
			return errno;
	}
	if ((flags & POSIX_SPAWN_RESETIDS) && (setegid(getgid()) < 0 || seteuid(getuid()) < 0))
		return errno;
	return 0;
}

/* report tells the parent why the child failed (errno) and exits. */
static __attribute__((noreturn)) void report(int pipefd, int err)
{
	if (pipefd >= 0)
		(void)!REAL(write)(pipefd, &err, sizeof err);
	_exit(127);
}

static int spawn_hooked(pid_t *pid, const char *path, int search, const posix_spawn_file_actions_t *fa,
			const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	struct spawn_act *acts = NULL;
	int nacts = 0;
	if (!needs_hook() || (fa && (nacts = fa_get(fa, &acts)) < 0))
		return search ? REAL(posix_spawnp)(pid, path, fa, attr, argv, envp)
			      : REAL(posix_spawn)(pid, path, fa, attr, argv, envp);
	int p[2];
	if (REAL(pipe2)(p, O_CLOEXEC) < 0) {
		free(acts);
		return errno;
	}
	/* Signals stay blocked across fork so no handler of ours runs in the
	 * child before it is set up; the child restores the mask it wants. */
	sigset_t all, old;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid_t c = fork();
	if (c == 0) {
		REAL(close)(p[0]);
		/* The report pipe moves out of the way of the fds the actions
		 * name (they cannot know its number). */
		int rp = REAL(fcntl)(p[1], F_DUPFD_CLOEXEC, REPORT_FD_MIN);
		if (rp >= 0)
			REAL(close)(p[1]);
		else
			rp = p[1];
		/* Signals stay blocked while the actions call into the library. */
		int e = apply_attr(attr);
		if (e)
			report(rp, e);
		for (int i = 0; i < nacts; i++)
			if ((e = run_action(&acts[i], rp)) != 0)
				report(rp, e);
		sigset_t want = old;
		short flags = 0;
		if (attr && posix_spawnattr_getflags(attr, &flags) == 0 && (flags & POSIX_SPAWN_SETSIGMASK))
			posix_spawnattr_getsigmask(attr, &want);
		sigprocmask(SIG_SETMASK, &want, NULL);
		if (search)
			execvpe(path, argv, envp);
		else
			execve(path, argv, envp);
		report(rp, errno);
	}
	int e = errno;
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(acts);
	REAL(close)(p[1]);
	if (c < 0) {
		REAL(close)(p[0]);
		return e;
	}
	int err = 0;
	ssize_t n;
	while ((n = REAL(read)(p[0], &err, sizeof err)) < 0 && errno == EINTR)
		;
	REAL(close)(p[0]);
	if (n == (ssize_t)sizeof err && err != 0) {
		/* The child failed before exec: reap it, return its errno. */
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		return err;
	}
	if (pid)
		*pid = c;
	return 0;
}

POLY_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_hooked(pid, path, 0, fa, attr, argv, envp);
}

POLY_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	return spawn_hooked(pid, file, 1, fa, attr, argv, envp);
}

/* ---- popen / pclose ---- */

struct popen_rec {
	FILE *f;
	int fd;
	pid_t pid;
	struct popen_rec *next;
};

static pthread_mutex_t popen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct popen_rec *popen_list;

/* A child forked while another thread held a lock of this file gets its
 * own, unlocked copy (popen holds popen_mu across its fork so that no
 * stream of a concurrent popen leaks into its child). */
static void spawn_after_fork_child(void)
{
	pthread_mutex_init(&fa_mu, NULL);
	pthread_mutex_init(&popen_mu, NULL);
}

__attribute__((constructor)) static void spawn_init(void)
{
	pthread_atfork(NULL, NULL, spawn_after_fork_child);
}

POLY_EXPORT FILE *popen(const char *cmd, const char *mode)
{
	if (!needs_hook())
		return REAL(popen)(cmd, mode);
	int reading = mode && mode[0] == 'r';
	if (!mode || (mode[0] != 'r' && mode[0] != 'w')) {
		errno = EINVAL;
		return NULL;
	}
	int cloexec = strchr(mode + 1, 'e') != NULL;
	struct popen_rec *rec = malloc(sizeof *rec);
	if (!rec)
		return NULL;
	int p[2];
	if (REAL(pipe2)(p, O_CLOEXEC) < 0) {
		free(rec);
		return NULL;
	}
	int mine = reading ? p[0] : p[1], theirs = reading ? p[1] : p[0], target = reading ? 1 : 0;
	pthread_mutex_lock(&popen_mu);
	pid_t c = fork();
	if (c == 0) {
		/* POSIX: streams of earlier popen calls are closed in the child. */
		for (struct popen_rec *r = popen_list; r; r = r->next)
			REAL(close)(r->fd);
		if (theirs == target) {
			if (fcntl(target, F_SETFD, 0) < 0)
				_exit(127);
		} else if (dup2(theirs, target) < 0) {
			_exit(127);
		}
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int e = errno;
	REAL(close)(theirs);
	if (c < 0) {
		pthread_mutex_unlock(&popen_mu);
		REAL(close)(mine);
		free(rec);
		errno = e;
		return NULL;
	}
	if (!cloexec)
		fcntl(mine, F_SETFD, 0);
	FILE *f = fdopen(mine, reading ? "r" : "w");
	if (!f) {
		e = errno;
		pthread_mutex_unlock(&popen_mu);
		REAL(close)(mine);
		while (waitpid(c, NULL, 0) < 0 && errno == EINTR)
			;
		free(rec);
		errno = e;
		return NULL;
	}
	*rec = (struct popen_rec){.f = f, .fd = mine, .pid = c, .next = popen_list};
	popen_list = rec;
	pthread_mutex_unlock(&popen_mu);
	return f;
}

POLY_EXPORT int pclose(FILE *f)
{
	pthread_mutex_lock(&popen_mu);
	struct popen_rec **pp = &popen_list;
	while (*pp && (*pp)->f != f)
		pp = &(*pp)->next;
	struct popen_rec *r = *pp;
	if (r)
		*pp = r->next;
	pthread_mutex_unlock(&popen_mu);
	if (!r)
		return REAL(pclose)(f);
	pid_t c = r->pid;
	free(r);
	fclose(f);
	int st;
	pid_t w;
	while ((w = waitpid(c, &st, 0)) < 0 && errno == EINTR)
		;
	return w < 0 ? -1 : st;
}

/* ---- system ---- */

POLY_EXPORT int system(const char *cmd)
{
	if (!needs_hook())
		return REAL(system)(cmd);
	if (!cmd)
		return 1; /* a shell is available: /bin/sh runs the commands */
	struct sigaction ign = {.sa_handler = SIG_IGN}, oint, oquit;
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &oint);
	sigaction(SIGQUIT, &ign, &oquit);
	sigset_t chld, old;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	pid_t c = fork();
	if (c == 0) {
		sigaction(SIGINT, &oint, NULL);
		sigaction(SIGQUIT, &oquit, NULL);
		sigprocmask(SIG_SETMASK, &old, NULL);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	int st = -1;
	if (c > 0) {
		while (waitpid(c, &st, 0) < 0) {
			if (errno != EINTR) {
				st = -1;
				break;
			}
		}
	}
	int e = errno;
	sigaction(SIGINT, &oint, NULL);
	sigaction(SIGQUIT, &oquit, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	errno = e;
	return st;
}
