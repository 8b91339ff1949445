package shm

import (
	"fmt"
	"math"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Futex operations without FUTEX_PRIVATE_FLAG: the kernel keys the wait
// queue by the physical page, so waiters and wakers in different processes
// that map the same segment meet.
const (
	futexWait = 0 // FUTEX_WAIT
	futexWake = 1 // FUTEX_WAKE
)

// FutexWait sleeps while *p == val, until FutexWake on the same word (from
// any process), a spurious wake-up, or timeout (<= 0: no timeout). It
// returns nil when woken, when *p != val on entry or on a signal; the caller
// re-checks its condition in a loop. It returns ErrTimedOut when the timeout
// passed.
func FutexWait(p *uint32, val uint32, timeout time.Duration) error {
	var ts *unix.Timespec
	if timeout > 0 {
		t := unix.NsecToTimespec(int64(timeout))
		ts = &t
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, addr(p), futexWait, uintptr(val), timespecAddr(ts), 0, 0)
	runtime.KeepAlive(p)
	runtime.KeepAlive(ts)
	switch e {
	case 0, unix.EAGAIN, unix.EINTR:
		return nil
	case unix.ETIMEDOUT:
		return ErrTimedOut
	}
	return fmt.Errorf("shm: futex wait: %w", e)
}

// FutexWake wakes up to n waiters sleeping on *p (n <= 0: all of them) and
// returns how many it woke.
func FutexWake(p *uint32, n int) (int, error) {
	if n <= 0 || n > math.MaxInt32 {
		n = math.MaxInt32
	}
	woken, _, e := unix.Syscall6(unix.SYS_FUTEX, addr(p), futexWake, uintptr(n), 0, 0, 0)
	runtime.KeepAlive(p)
	if e != 0 {
		return 0, fmt.Errorf("shm: futex wake: %w", e)
	}
	return int(woken), nil
}

// FutexWait sleeps on the uint32 at off; see the package-level FutexWait.
func (r Region) FutexWait(off uint64, val uint32, timeout time.Duration) error {
	p, err := r.Uint32Ptr(off)
	if err != nil {
		return err
	}
	return FutexWait(p, val, timeout)
}

// FutexWake wakes up to n waiters on the uint32 at off.
func (r Region) FutexWake(off uint64, n int) (int, error) {
	p, err := r.Uint32Ptr(off)
	if err != nil {
		return 0, err
	}
	return FutexWake(p, n)
}
