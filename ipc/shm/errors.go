package shm

import "errors"

var (
	// ErrOutOfBounds: an offset or length does not fit in the region.
	ErrOutOfBounds = errors.New("shm: out of bounds")
	// ErrMisaligned: an atomic access at an address that is not aligned
	// to the word size.
	ErrMisaligned = errors.New("shm: misaligned atomic access")
	// ErrTimedOut: FutexWait returned because its timeout passed.
	ErrTimedOut = errors.New("shm: futex wait timed out")
	// ErrBadSize: a segment size that is zero, negative or too large.
	ErrBadSize = errors.New("shm: bad segment size")
)
