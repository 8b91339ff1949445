/*
 * poly.h: internal declarations of the Polytropon preload library
 * (libpolytropon.so). The library interposes the libc file API of an
 * unmodified, dynamically linked program and sends every call whose path or
 * fd belongs to a mount of the pool's filesystem service over the shared
 * memory protocol of polytropon_wire.h; everything else goes to the kernel
 * unchanged (the next definition found with dlsym(RTLD_NEXT)).
 *
 * Sources live in fs/preload/src (Go refuses C files beside a Go package
 * without cgo); make -C fs/preload builds fs/preload/libpolytropon.so.
 * Files in layers, lowest first; a file calls into its own layer and the
 * ones below, never above (TestLayers checks the objects):
 *
 *   sys.c     raw system calls (poly_sys), clock, futexes
 *   rcqb.c    the request queue's enqueue side
 *   front.c   segment, buffers, the request/wait protocol
 *   fdtab.c   library fds; paths of kernel directory fds above mounts
 *   path.c    cwd, mount table, path resolution
 *   the interposers, which may call each other's entry points: io.c
 *   (open/read/write family), meta.c (stat and name calls), dir.c
 *   (directory streams, cwd), stdio.c (fopencookie streams), process.c
 *   (constructor, fork, exec), spawn.c (posix_spawn, popen and system
 *   through fork and exec), mmap.c (emulated mappings), fdctl.c (fcntl,
 *   dup, ioctl, close_range), locks.c (fcntl locks, flock, lockf),
 *   copy.c (sendfile, copy_file_range), aio.c (POSIX aio), linuxaio.c
 *   (io_submit and friends), syscall.c (the syscall() interposer).
 *
 * The three lowest layers call no entry point the library interposes, so
 * the request protocol never runs through its own interposers. Nothing
 * calls up: fdtab.c tells whoever registered with lfd_watch_std (stdio.c's
 * poly_std_update) when fd 0, 1 or 2 changes owner, so the standard
 * streams follow the fd.
 */
#ifndef POLY_H
#define POLY_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "polytropon_wire.h"
#include "sys.h"

#define POLY_EXPORT __attribute__((visibility("default")))
#define POLY_HIDDEN __attribute__((visibility("hidden")))

/* REAL(f) is the next definition of libc function f (resolved once). */
#define REAL(f)                                                              \
	({                                                                   \
		static __typeof__(&f) real_##f##_p;                          \
		__typeof__(&f) p_ = __atomic_load_n(&real_##f##_p, __ATOMIC_RELAXED); \
		if (!p_) {                                                   \
			p_ = (__typeof__(&f))poly_next(#f);                  \
			__atomic_store_n(&real_##f##_p, p_, __ATOMIC_RELAXED); \
		}                                                            \
		p_;                                                          \
	})
void *poly_next(const char *name) POLY_HIDDEN;

/* ---- front driver (front.c) ---- */

/* poly_active is 1 once the segment is attached and valid. */
extern int poly_active POLY_HIDDEN;
extern int poly_dead POLY_HIDDEN; /* the service was seen dead */
/* poly_fenced: a pool is configured but its segment could not be
 * attached; the paths of $POLYTROPON_MOUNTS answer ENOTCONN (path.c). */
extern int poly_fenced POLY_HIDDEN;
void poly_fence_init(void) POLY_HIDDEN;
int poly_fence_check(int dirfd, const char *path) POLY_HIDDEN; /* 0 or -ENOTCONN */
int poly_refused(const char *path) POLY_HIDDEN;
/* poly_inert: neither attached nor fenced; every call goes to the kernel. */
static inline int poly_inert(void) { return !poly_active && !poly_fenced; }
extern struct poly_header *poly_hdr POLY_HIDDEN;
extern uint8_t *poly_base POLY_HIDDEN;
extern uint32_t poly_data_size POLY_HIDDEN;
extern uint32_t poly_copy POLY_HIDDEN;

/* A request being built in a claimed buffer. */
struct pcall {
	struct poly_desc *d;
	uint8_t *data;
	uint32_t idx;
	uint32_t at; /* next free byte of the data area */
};

int poly_attach(void) POLY_HIDDEN;
int pc_begin(struct pcall *c, uint32_t call) POLY_HIDDEN; /* 0 or -errno */
void pc_end(struct pcall *c) POLY_HIDDEN;
int pc_put(struct pcall *c, const void *p, size_t n, uint32_t *off, uint32_t *len) POLY_HIDDEN;
int pc_path(struct pcall *c, const char *p) POLY_HIDDEN;
int pc_path2(struct pcall *c, const char *p) POLY_HIDDEN;
void pc_out(struct pcall *c, size_t max) POLY_HIDDEN;
int64_t pc_do(struct pcall *c) POLY_HIDDEN; /* Ret, or -EIO when the service is gone */
int poly_register(uint64_t token) POLY_HIDDEN;
int poly_ensure(void) POLY_HIDDEN; /* registers lazily; 0 or -errno */
int poly_alive(void) POLY_HIDDEN;
void poly_front_after_fork_child(void) POLY_HIDDEN;
void poly_front_before_exec(void) POLY_HIDDEN;
extern uint32_t poly_slot POLY_HIDDEN;
extern int poly_registered POLY_HIDDEN;
extern uint32_t poly_uid POLY_HIDDEN, poly_gid POLY_HIDDEN;

/* Simple calls: fd call with args, path call with args. */
int64_t poly_fdcall(uint32_t call, uint64_t sfd, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4) POLY_HIDDEN;
int64_t poly_fdout(uint32_t call, uint64_t sfd, void *out, size_t max) POLY_HIDDEN;
/* poly_fdargs: sfd in args[0], args[1..nargs]; out (if not NULL) receives up to max bytes. */
int64_t poly_fdargs(uint32_t call, uint64_t sfd, const uint64_t *args, int nargs, void *out, size_t max) POLY_HIDDEN;
int64_t poly_pathcall(uint32_t call, uint32_t inst, const char *name, const char *name2,
		      const uint64_t *args, int nargs, void *out, size_t outmax) POLY_HIDDEN;
ssize_t poly_rw(uint32_t call, uint64_t sfd, void *buf, size_t n, int64_t off) POLY_HIDDEN;

/* Raw system calls, clock and futexes: sys.h; the RCQB enqueue: rcqb.h. */

/* ---- library fds (fdtab.c) ---- */
enum { LFD_FILE = 1, LFD_DIR = 2 };
struct lfd {
	int used;
	int flags;   /* open flags without O_CLOEXEC (access mode, O_APPEND...) */
	int cloexec; /* FD_CLOEXEC */
	uint64_t sfd;
	uint32_t inst;
	char *path; /* absolute, cleaned (for *at, fchdir, fstatfs) */
};
#define POLY_MAX_FDS 65536
struct lfd *lfd_get(int fd) POLY_HIDDEN; /* NULL: not ours */
int lfd_install(int want, int min, uint64_t sfd, uint32_t inst, int flags, int cloexec, const char *path) POLY_HIDDEN;
int lfd_install_at(int fd, uint64_t sfd, uint32_t inst, int flags, int cloexec, const char *path) POLY_HIDDEN;
void lfd_forget(int fd) POLY_HIDDEN;   /* drops the table entry only */
int lfd_close(int fd) POLY_HIDDEN;     /* service close + kernel placeholder */
int lfd_placeholder(int min, int cloexec) POLY_HIDDEN; /* new kernel fd >= min */
void lfd_watch_std(void (*changed)(int fd)) POLY_HIDDEN; /* told when fd 0..2 changes owner */
int lfd_count(void) POLY_HIDDEN;
int lfd_dup(int oldfd, int newfd, int min, int cloexec) POLY_HIDDEN;
void lfd_lock(void) POLY_HIDDEN;
void lfd_unlock(void) POLY_HIDDEN;
extern int poly_nfds_hint POLY_HIDDEN;

/* ---- paths (path.c) ---- */
struct rpath {
	int ours;          /* 1: served by the service */
	uint32_t inst;     /* instance when ours */
	int readonly;
	const char *name;  /* name inside the instance (points into abs) */
	const char *kpath; /* path for the kernel when not ours */
	int kdirfd;        /* dirfd for the kernel when not ours */
	int have_abs;      /* abs holds the full path (also when not ours) */
	char abs[POLY_PATH_MAX + 2];
};
int poly_resolve(int dirfd, const char *path, struct rpath *rp) POLY_HIDDEN; /* 0 or -errno */
int poly_clean(char *dst, size_t cap, const char *base, const char *rel) POLY_HIDDEN;
int poly_match(const char *abs, uint32_t *inst, const char **name, int *ro) POLY_HIDDEN;
/* Kernel directory fds whose path is an ancestor of a mount path are
 * remembered, so *at calls relative to them can enter the mount. */
void kdir_note(int fd, const char *abs) POLY_HIDDEN; /* path.c */
void kdir_set(int fd, const char *abs) POLY_HIDDEN;  /* fdtab.c, as the rest */
void kdir_forget(int fd) POLY_HIDDEN;
void kdir_copy(int from, int to) POLY_HIDDEN;
const char *kdir_path(int fd, char *buf, size_t cap) POLY_HIDDEN;
extern char poly_cwd[POLY_PATH_MAX + 2] POLY_HIDDEN;
extern int poly_cwd_ours POLY_HIDDEN;
void poly_cwd_init(const char *cwd) POLY_HIDDEN;
void poly_set_cwd(const char *abs) POLY_HIDDEN;
extern pthread_mutex_t poly_cwd_mu POLY_HIDDEN;

/* ---- shared helpers ---- */
void poly_stat_to(const struct poly_stat *ps, struct stat *st) POLY_HIDDEN;
int poly_fstat_sfd(uint64_t sfd, struct stat *st) POLY_HIDDEN;
int poly_open_path(struct rpath *rp, int flags, mode_t mode, int min) POLY_HIDDEN;
ssize_t poly_read_fd(struct lfd *f, void *buf, size_t n) POLY_HIDDEN;
ssize_t poly_write_fd(struct lfd *f, const void *buf, size_t n) POLY_HIDDEN;
void poly_std_update(int fd) POLY_HIDDEN; /* fd 0..2 changed owner */
int poly_is_our_dir(void *dirp) POLY_HIDDEN;
void poly_exec_prepare(char *const **envp) POLY_HIDDEN;
void poly_exec_failed(void) POLY_HIDDEN;
void poly_mmap_forget_all(void) POLY_HIDDEN;
extern mode_t poly_umask POLY_HIDDEN;
void poly_debug(const char *fmt, ...) POLY_HIDDEN;
int poly_fcntl_lock(struct lfd *f, int fd, int cmd, struct flock *l) POLY_HIDDEN; /* locks.c */

/* Linux native aio on library fds (linuxaio.c), for the syscall()
 * interposer; ctx is an aio_context_t. */
struct iocb;
struct io_event;
long kaio_submit(unsigned long ctx, long nr, struct iocb **cbs) POLY_HIDDEN;
long kaio_getevents(long nr_call, unsigned long ctx, long min_nr, long nr, struct io_event *events, void *timeout,
		    void *sig) POLY_HIDDEN;
long kaio_destroy(unsigned long ctx) POLY_HIDDEN;

/* errno helpers: r < 0 is -errno. */
static inline long poly_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#endif /* POLY_H */
