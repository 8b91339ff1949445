//go:build linux

package shm

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// timespecAddr is the address of a futex timeout argument (0 for none).
func timespecAddr(ts *unix.Timespec) uintptr { return uintptr(unsafe.Pointer(ts)) }
