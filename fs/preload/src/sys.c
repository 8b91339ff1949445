/*
 * sys.c: raw system calls for the library's own use (see sys.h). The
 * syscall instruction is issued inline rather than through libc's
 * syscall(), which the program's symbol lookup resolves to the library's
 * interposer, and rather than through a dlsym'd pointer to libc's, which
 * would set errno and need the dynamic linker in the lowest layer.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>

#include "sys.h"

#if !defined(__x86_64__)
#error "poly_sys: the preload library is built for x86-64 only"
#endif

long poly_sys(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;
	__asm__ volatile("syscall"
			 : "=a"(ret)
			 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return ret;
}

uint64_t poly_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int poly_futex_wait(uint32_t *p, uint32_t val, int64_t ns)
{
	struct timespec ts, *tp = NULL;
	if (ns > 0) {
		ts.tv_sec = ns / 1000000000;
		ts.tv_nsec = ns % 1000000000;
		tp = &ts;
	}
	long r = poly_sys(SYS_futex, (long)p, FUTEX_WAIT, (long)val, (long)tp, 0, 0);
	return r == -ETIMEDOUT ? -ETIMEDOUT : 0;
}

void poly_futex_wake(uint32_t *p)
{
	poly_sys(SYS_futex, (long)p, FUTEX_WAKE, 0x7fffffff, 0, 0, 0);
}

pid_t poly_gettid(void)
{
	return (pid_t)poly_sys(SYS_gettid, 0, 0, 0, 0, 0, 0);
}
