package copy

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func init() {
	Register(Spec{Name: "CMA", Copies: 1, New: func(o Options) (Method, error) {
		pid := o.Pid
		if pid == 0 {
			pid = os.Getpid()
		}
		return cma{pid: pid}, nil
	}})
}

// cma reads the source from process pid's address space with
// process_vm_readv: the kernel copies once, straight into dst.
type cma struct{ pid int }

func (c cma) Copy(dst, src []byte) (int, error) {
	n := min(len(dst), len(src))
	return ReadFrom(c.pid, dst[:n], Addr(src))
}

// ReadFrom copies len(dst) bytes at address remote of process pid into dst
// (process_vm_readv), repeating on partial transfers.
func ReadFrom(pid int, dst []byte, remote uintptr) (int, error) {
	done := 0
	for done < len(dst) {
		local := []unix.Iovec{{Base: &dst[done]}}
		local[0].SetLen(len(dst) - done)
		rem := []unix.RemoteIovec{{Base: remote + uintptr(done), Len: len(dst) - done}}
		n, err := unix.ProcessVMReadv(pid, local, rem, 0)
		if err != nil {
			return done, fmt.Errorf("copy: process_vm_readv from pid %d at %#x: %w", pid, remote+uintptr(done), err)
		}
		if n == 0 {
			return done, fmt.Errorf("%w: %d of %d bytes from pid %d", ErrShort, done, len(dst), pid)
		}
		done += n
	}
	return done, nil
}

// WriteTo copies src to address remote of process pid (process_vm_writev),
// repeating on partial transfers.
func WriteTo(pid int, remote uintptr, src []byte) (int, error) {
	done := 0
	for done < len(src) {
		local := []unix.Iovec{{Base: &src[done]}}
		local[0].SetLen(len(src) - done)
		rem := []unix.RemoteIovec{{Base: remote + uintptr(done), Len: len(src) - done}}
		n, err := unix.ProcessVMWritev(pid, local, rem, 0)
		if err != nil {
			return done, fmt.Errorf("copy: process_vm_writev to pid %d at %#x: %w", pid, remote+uintptr(done), err)
		}
		if n == 0 {
			return done, fmt.Errorf("%w: %d of %d bytes to pid %d", ErrShort, done, len(src), pid)
		}
		done += n
	}
	return done, nil
}
