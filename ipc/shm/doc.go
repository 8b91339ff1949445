// Package shm gives the user-level I/O path its shared memory: System V
// segments private to a pool's IPC namespace (Create, Open, Attach, Key),
// and a Region that addresses fixed-size structures inside such memory by
// offset, never by pointer.
//
// Nothing read from shared memory is trusted: every offset and length goes
// through a bounds-checked Region accessor that returns ErrOutOfBounds (or
// ErrMisaligned for atomics) instead of panicking or touching memory outside
// the region. Words that cross processes are accessed atomically (Load,
// Store, Add, CompareAndSwap) and can be slept on with FutexWait/FutexWake,
// which use non-private futex operations so that a wake in one process
// reaches a waiter in another.
//
// Pools live in separate IPC namespaces, so a segment created by one pool is
// invisible to every other pool: Key derives the same key for the same
// (pool, purpose) in every pool, and the kernel keeps them apart.
//
// unsafe is confined to region_unsafe.go; futex system calls live in
// futex_linux.go.
package shm
