package service

import (
	"sync"
	"syscall"

	"polytropon/fs"
	xcopy "polytropon/ipc/copy"
)

// Cross-memory transfers (FlagCMA): the payload stays in the client
// process and goes through a bounce buffer of the service.

// cmaChunk is the service-side bounce buffer of cross-memory transfers.
const cmaChunk = 1 << 20

// maxCMA bounds one cross-memory request.
const maxCMA = 1 << 30

var bouncePool = sync.Pool{New: func() any { b := make([]byte, cmaChunk); return &b }}

// readToProcess reads n bytes of file at off into the memory of process
// pid at addr.
func readToProcess(file fs.File, pid int, addr uintptr, n int, off int64) (int, error) {
	bp := bouncePool.Get().(*[]byte)
	defer bouncePool.Put(bp)
	done := 0
	for done < n {
		chunk := min(n-done, len(*bp))
		m, err := file.Pread((*bp)[:chunk], off+int64(done))
		if m > 0 {
			if _, werr := xcopy.WriteTo(pid, addr+uintptr(done), (*bp)[:m]); werr != nil {
				return done, fs.PathError("process_vm_writev", "", syscall.EFAULT)
			}
			done += m
		}
		if err != nil {
			return done, err
		}
		if m < chunk {
			break
		}
	}
	return done, nil
}

// writeFromProcess writes n bytes from the memory of process pid at addr
// to file at off.
func writeFromProcess(file fs.File, pid int, addr uintptr, n int, off int64) (int, error) {
	bp := bouncePool.Get().(*[]byte)
	defer bouncePool.Put(bp)
	done := 0
	for done < n {
		chunk := min(n-done, len(*bp))
		if _, err := xcopy.ReadFrom(pid, (*bp)[:chunk], addr+uintptr(done)); err != nil {
			return done, fs.PathError("process_vm_readv", "", syscall.EFAULT)
		}
		m, err := file.Pwrite((*bp)[:chunk], off+int64(done))
		done += m
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
