/*
 * sys.h: the library's own system calls (sys.c), the lowest layer.
 *
 * The library exports an interposer named syscall (syscall.c), so a call
 * of syscall() from inside the library would go through it, and every
 * futex wait of the request protocol would pass the interposition switch.
 * The library's internal raw calls (futex, gettid, the debug write) use
 * poly_sys instead: the syscall instruction itself, no symbol lookup, no
 * errno. Files of the lower layers (sys.c, rcqb.c, front.c) call no
 * interposed entry point at all; TestLayers checks it on the objects.
 */
#ifndef POLY_SYS_H
#define POLY_SYS_H

#include <stdint.h>
#include <sys/types.h>

#define POLY_SYS_HIDDEN __attribute__((visibility("hidden")))

/* poly_sys makes system call nr with up to six arguments and returns the
 * kernel's result: >= 0, or -errno. errno is left alone. */
long poly_sys(long nr, long a, long b, long c, long d, long e, long f) POLY_SYS_HIDDEN;

/* poly_now is CLOCK_MONOTONIC in nanoseconds. */
uint64_t poly_now(void) POLY_SYS_HIDDEN;
/* poly_futex_wait sleeps while *p == val, at most ns (<= 0: no limit), on
 * a shared (not FUTEX_PRIVATE) futex: the waker is another process. It
 * returns 0 when woken or when the value differed, -ETIMEDOUT. */
int poly_futex_wait(uint32_t *p, uint32_t val, int64_t ns) POLY_SYS_HIDDEN;
/* poly_futex_wake wakes every waiter on p. */
void poly_futex_wake(uint32_t *p) POLY_SYS_HIDDEN;
/* poly_gettid is the calling thread's id. */
pid_t poly_gettid(void) POLY_SYS_HIDDEN;

#endif
