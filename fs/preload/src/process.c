/*
 * process.c: the library's life cycle and the process calls.
 *
 *   - constructor: attach the segment (inert without one), take the cwd,
 *     and, when this pid saved its state before exec (a client slot in
 *     state EXEC_SAVED with our pid), REGISTER (which returns that slot)
 *     and EXEC_RESTORE the fd table and cwd;
 *   - fork/vfork: FORK PREPARE (the service copies our references to a
 *     pending slot) -> fork -> the child REGISTERs with the token, the
 *     parent COMMITs the child's pid (ABORT when fork fails). The table is
 *     copied by fork itself; the kernel copies the placeholders;
 *   - exec*: close-on-exec library fds are closed, the rest of the state is
 *     saved with EXEC_SAVE, and LD_PRELOAD plus the segment variables are
 *     put back into the new environment if the caller dropped them;
 *   - _exit needs nothing: the service reaps clients and buffers by pid.
 */
#include "poly.h"

#include <sched.h>
#include <stdlib.h>

extern char **environ;

static void restore_exec(void)
{
	/* Only a process whose pid saved a state has something to restore;
	 * looking at the client table avoids a round trip for the others. */
	pid_t me = getpid();
	struct poly_header *h = poly_hdr;
	int found = 0;
	for (uint32_t i = 0; i < h->num_clients; i++) {
		struct poly_client_slot *s =
			(struct poly_client_slot *)(poly_base + h->clients_off + (uint64_t)i * sizeof *s);
		if (__atomic_load_n(&s->pid, __ATOMIC_SEQ_CST) == me &&
		    __atomic_load_n(&s->state, __ATOMIC_SEQ_CST) == POLY_CLIENT_EXEC_SAVED) {
			found = 1;
			break;
		}
	}
	if (!found)
		return;
	if (poly_register(0) < 0)
		return;
	uint8_t blob[POLY_EXEC_BLOB_MAX];
	struct pcall c;
	if (pc_begin(&c, POLY_CALL_EXEC_RESTORE) < 0)
		return;
	pc_out(&c, POLY_EXEC_BLOB_MAX);
	int64_t n = pc_do(&c);
	if (n > 0 && n <= POLY_EXEC_BLOB_MAX)
		memcpy(blob, c.data + c.d->out_off, (size_t)n);
	if (!poly_dead)
		pc_end(&c);
	if (n < (int64_t)sizeof(struct poly_exec_header))
		return;
	struct poly_exec_header eh;
	memcpy(&eh, blob, sizeof eh);
	uint64_t paths = sizeof eh + (uint64_t)eh.num_fds * sizeof(struct poly_exec_fd) + eh.cwd_len;
	if (eh.version != POLY_EXEC_VERSION || eh.num_fds > POLY_EXEC_BLOB_MAX / sizeof(struct poly_exec_fd) ||
	    paths > (uint64_t)n)
		return;
	const uint8_t *p = blob + sizeof eh;
	uint64_t end = paths;
	for (uint32_t i = 0; i < eh.num_fds; i++) {
		struct poly_exec_fd ef;
		memcpy(&ef, p + i * sizeof ef, sizeof ef);
		end += ef.path_len;
	}
	if (end != (uint64_t)n)
		return; /* not a blob this library wrote */
	char cwd[POLY_PATH_MAX + 2];
	const char *cwdsrc = (const char *)p + eh.num_fds * sizeof(struct poly_exec_fd);
	if (eh.cwd_len > 0 && eh.cwd_len <= POLY_PATH_MAX) {
		memcpy(cwd, cwdsrc, eh.cwd_len);
		cwd[eh.cwd_len] = 0;
		poly_cwd_init(cwd);
	}
	for (uint32_t i = 0; i < eh.num_fds; i++) {
		struct poly_exec_fd ef;
		memcpy(&ef, p + i * sizeof ef, sizeof ef);
		char path[POLY_PATH_MAX + 1];
		const char *pp = NULL;
		if (ef.path_len > 0 && ef.path_len <= POLY_PATH_MAX) {
			memcpy(path, blob + paths, ef.path_len);
			path[ef.path_len] = 0;
			pp = path;
		}
		paths += ef.path_len;
		/* The placeholder must have survived exec. */
		if (ef.fd < 0 || ef.fd >= POLY_MAX_FDS || REAL(fcntl)(ef.fd, F_GETFD) < 0) {
			poly_fdcall(POLY_CALL_CLOSE, ef.sfd, 0, 0, 0, 0);
			continue;
		}
		lfd_install_at(ef.fd, ef.sfd, ef.inst, ef.flags, 0, pp);
	}
	poly_debug("polytropon: pid %d restored %u fds after exec\n", me, eh.num_fds);
}

__attribute__((constructor)) static void poly_init(void)
{
	mode_t m = REAL(umask)(022);
	REAL(umask)(m);
	poly_umask = m;
	if (poly_attach() < 0) {
		poly_fence_init();
		return;
	}
	poly_cwd_init(NULL);
	restore_exec();
	for (int fd = 0; fd <= 2; fd++)
		if (lfd_get(fd))
			poly_std_update(fd);
}

POLY_EXPORT mode_t umask(mode_t m)
{
	mode_t old = REAL(umask)(m);
	poly_umask = m & 0777;
	return old;
}

/* ---- fork ---- */

POLY_EXPORT pid_t fork(void)
{
	if (!poly_active || poly_dead || !poly_registered || lfd_count() == 0) {
		pid_t pid = REAL(fork)();
		if (pid == 0 && poly_active)
			poly_front_after_fork_child();
		return pid;
	}
	int64_t tok = poly_fdcall(POLY_CALL_FORK, POLY_FORK_PREPARE, 0, 0, 0, 0);
	if (tok < 0 && tok != -EIO) {
		errno = tok == -EMFILE ? EAGAIN : (int)-tok;
		return -1;
	}
	lfd_lock();
	pthread_mutex_lock(&poly_cwd_mu);
	pid_t pid = REAL(fork)();
	int e = errno;
	pthread_mutex_unlock(&poly_cwd_mu);
	lfd_unlock();
	if (pid < 0) {
		if (tok > 0)
			poly_fdcall(POLY_CALL_FORK, POLY_FORK_ABORT, (uint64_t)tok, 0, 0, 0);
		errno = e;
		return -1;
	}
	if (pid == 0) {
		poly_front_after_fork_child();
		if (tok > 0) {
			int r = poly_register((uint64_t)tok);
			if (r < 0)
				poly_debug("polytropon: fork child %d could not claim its slot: %s\n", getpid(),
					   strerror(-r));
		}
		return 0;
	}
	if (tok > 0)
		poly_fdcall(POLY_CALL_FORK, POLY_FORK_COMMIT, (uint64_t)tok, (uint64_t)pid, 0, 0);
	return pid;
}

/* clone without CLONE_VM makes a process with a copy of our memory: it
 * goes through the fork protocol, the child registering in a trampoline
 * before it runs fn. clone with CLONE_VM (threads, vfork-like spawns)
 * shares the parent's state and is passed through. */
struct clone_tramp {
	int (*fn)(void *);
	void *arg;
	int64_t tok;
};

static int clone_child(void *p)
{
	struct clone_tramp *t = p;
	poly_front_after_fork_child();
	if (t->tok > 0)
		poly_register((uint64_t)t->tok);
	return t->fn(t->arg);
}

POLY_EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	pid_t *ptid = va_arg(ap, pid_t *);
	void *tls = va_arg(ap, void *);
	pid_t *ctid = va_arg(ap, pid_t *);
	va_end(ap);
	if (!poly_active || poly_dead || (flags & CLONE_VM))
		return REAL(clone)(fn, stack, flags, arg, ptid, tls, ctid);
	struct clone_tramp *t = malloc(sizeof *t);
	if (!t) {
		errno = ENOMEM;
		return -1;
	}
	t->fn = fn;
	t->arg = arg;
	t->tok = 0;
	if (poly_registered && lfd_count() > 0) {
		t->tok = poly_fdcall(POLY_CALL_FORK, POLY_FORK_PREPARE, 0, 0, 0, 0);
		if (t->tok < 0 && t->tok != -EIO) {
			free(t);
			errno = EAGAIN;
			return -1;
		}
	}
	int pid = REAL(clone)(clone_child, stack, flags, t, ptid, tls, ctid);
	int e = errno;
	if (t->tok > 0)
		poly_fdcall(POLY_CALL_FORK, pid < 0 ? POLY_FORK_ABORT : POLY_FORK_COMMIT, (uint64_t)t->tok,
			    pid < 0 ? 0 : (uint64_t)pid, 0, 0);
	free(t);
	errno = e;
	return pid;
}

/* vfork shares the parent's memory until exec, which the library's state
 * cannot: it is a fork here (allowed by POSIX). */
POLY_EXPORT pid_t vfork(void) { return fork(); }

/* ---- exec ---- */

static const char *lib_path(void)
{
	static char path[4096];
	if (!path[0]) {
		Dl_info di;
		if (dladdr((void *)lib_path, &di) && di.dli_fname)
			snprintf(path, sizeof path, "%s", di.dli_fname);
	}
	return path;
}

/* fix_env returns envp with LD_PRELOAD (naming this library) and the
 * segment variables added when missing; the copy is never freed (the
 * process image is about to be replaced). */
static char *const *fix_env(char *const *envp)
{
	static const char *vars[] = {"POLYTROPON_SHM_KEY", "POLYTROPON_POOL", "POLYTROPON_COPY", "POLYTROPON_DEBUG"};
	const char *lib = lib_path();
	int n = 0, has_preload = 0;
	int has[4] = {0};
	for (; envp && envp[n]; n++) {
		if (!strncmp(envp[n], "LD_PRELOAD=", 11) && strstr(envp[n], lib))
			has_preload = 1;
		for (int v = 0; v < 4; v++) {
			size_t l = strlen(vars[v]);
			if (!strncmp(envp[n], vars[v], l) && envp[n][l] == '=')
				has[v] = 1;
		}
	}
	int need = !has_preload && lib[0];
	for (int v = 0; v < 4; v++)
		if (!has[v] && getenv(vars[v]))
			need = 1;
	if (!need)
		return envp;
	char **out = calloc((size_t)n + 6, sizeof *out);
	if (!out)
		return envp;
	int k = 0;
	for (int i = 0; i < n; i++) {
		if (!has_preload && !strncmp(envp[i], "LD_PRELOAD=", 11)) {
			size_t l = strlen(envp[i]) + strlen(lib) + 2;
			char *s = malloc(l);
			if (s) {
				snprintf(s, l, "LD_PRELOAD=%s:%s", lib, envp[i] + 11);
				out[k++] = s;
				has_preload = 1;
				continue;
			}
		}
		out[k++] = envp[i];
	}
	if (!has_preload && lib[0]) {
		size_t l = strlen(lib) + 12;
		char *s = malloc(l);
		if (s) {
			snprintf(s, l, "LD_PRELOAD=%s", lib);
			out[k++] = s;
		}
	}
	for (int v = 0; v < 4; v++) {
		const char *val = getenv(vars[v]);
		if (!has[v] && val) {
			size_t l = strlen(vars[v]) + strlen(val) + 2;
			char *s = malloc(l);
			if (s) {
				snprintf(s, l, "%s=%s", vars[v], val);
				out[k++] = s;
			}
		}
	}
	out[k] = NULL;
	return out;
}

void poly_exec_prepare(char *const **envp)
{
	if (!poly_active || poly_dead)
		return;
	int nfds = lfd_count();
	if (nfds > 0 || poly_cwd_ours)
		*envp = fix_env(*envp);
	if (nfds == 0 && !poly_cwd_ours) {
		if (poly_registered)
			poly_front_before_exec();
		return;
	}
	if (poly_ensure() < 0)
		return;
	/* Close-on-exec library fds go now; the others are saved. */
	for (int fd = 0; fd < POLY_MAX_FDS && lfd_count() > 0; fd++) {
		struct lfd *f = lfd_get(fd);
		if (f && f->cloexec)
			lfd_close(fd);
	}
	uint8_t blob[POLY_EXEC_BLOB_MAX];
	struct poly_exec_header eh = {.version = POLY_EXEC_VERSION, .uid = poly_uid, .gid = poly_gid};
	size_t at = sizeof eh;
	int left = lfd_count();
	for (int fd = 0; fd < POLY_MAX_FDS && left > 0; fd++) {
		struct lfd *f = lfd_get(fd);
		if (!f)
			continue;
		left--;
		if (at + sizeof(struct poly_exec_fd) > sizeof blob) {
			poly_debug("polytropon: too many fds to carry across exec; fd %d dropped\n", fd);
			continue;
		}
		struct poly_exec_fd ef = {.fd = fd, .flags = f->flags, .sfd = f->sfd, .inst = f->inst};
		memcpy(blob + at, &ef, sizeof ef);
		at += sizeof ef;
		eh.num_fds++;
	}
	pthread_mutex_lock(&poly_cwd_mu);
	size_t cl = strlen(poly_cwd);
	if (at + cl <= sizeof blob) {
		memcpy(blob + at, poly_cwd, cl);
		at += cl;
		eh.cwd_len = (uint32_t)cl;
	}
	pthread_mutex_unlock(&poly_cwd_mu);
	/* Paths last, in record order, while they fit: an fd without its path
	 * still works, only its *at calls and fchdir do not. */
	for (uint32_t i = 0; i < eh.num_fds; i++) {
		struct poly_exec_fd ef;
		uint8_t *rec = blob + sizeof eh + i * sizeof ef;
		memcpy(&ef, rec, sizeof ef);
		struct lfd *f = lfd_get(ef.fd);
		size_t pl = f && f->path ? strlen(f->path) : 0;
		if (pl == 0 || pl > POLY_PATH_MAX || at + pl > sizeof blob)
			continue;
		memcpy(blob + at, f->path, pl);
		at += pl;
		ef.path_len = (uint32_t)pl;
		memcpy(rec, &ef, sizeof ef);
	}
	memcpy(blob, &eh, sizeof eh);
	struct pcall c;
	if (pc_begin(&c, POLY_CALL_EXEC_SAVE) == 0) {
		if (pc_put(&c, blob, at, &c.d->data_off, &c.d->data_len) == 0)
			pc_do(&c);
		if (!poly_dead)
			pc_end(&c);
	}
	poly_front_before_exec();
}

void poly_exec_failed(void)
{
	/* The slot stays (state EXEC_SAVED is still served); buffers are
	 * claimed again on the next call. */
}

#define EXEC_WRAP(call)                     \
	do {                                \
		int e_;                     \
		poly_exec_prepare(&envp);   \
		int r_ = call;              \
		e_ = errno;                 \
		poly_exec_failed();         \
		errno = e_;                 \
		return r_;                  \
	} while (0)

POLY_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(execve)(path, argv, envp));
}
POLY_EXPORT int execv(const char *path, char *const argv[])
{
	char *const *envp = environ;
	EXEC_WRAP(REAL(execve)(path, argv, envp));
}
POLY_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(execvpe)(file, argv, envp));
}
POLY_EXPORT int execvp(const char *file, char *const argv[])
{
	char *const *envp = environ;
	EXEC_WRAP(REAL(execvpe)(file, argv, envp));
}
POLY_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WRAP(REAL(fexecve)(fd, argv, envp));
}

/* The execl family: collect the arguments, then the execv form. */
#define COLLECT_ARGS(arg, extra)                                   \
	va_list ap;                                                \
	int n_ = 1;                                                \
	va_start(ap, arg);                                         \
	while (va_arg(ap, char *))                                 \
		n_++;                                              \
	va_end(ap);                                                \
	char **argv = __builtin_alloca(((size_t)n_ + 1) * sizeof(char *)); \
	va_start(ap, arg);                                         \
	argv[0] = (char *)arg;                                     \
	for (int i_ = 1; i_ <= n_; i_++)                           \
		argv[i_] = va_arg(ap, char *);                     \
	extra;                                                     \
	va_end(ap);

POLY_EXPORT int execl(const char *path, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execv(path, argv);
}
POLY_EXPORT int execlp(const char *file, const char *arg, ...)
{
	COLLECT_ARGS(arg, (void)0);
	return execvp(file, argv);
}
POLY_EXPORT int execle(const char *path, const char *arg, ...)
{
	char *const *envp;
	COLLECT_ARGS(arg, envp = va_arg(ap, char *const *));
	return execve(path, argv, envp);
}
