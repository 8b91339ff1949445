//go:build ceph && cgo

package cephfs

import (
	"errors"
	"syscall"

	"polytropon/fs"
)

// errnoOf recovers the errno of a go-ceph error. go-ceph errors carry the
// libcephfs return code, a negative errno, behind ErrorCode().
func errnoOf(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var coded interface{ ErrorCode() int }
	if errors.As(err, &coded) {
		c := coded.ErrorCode()
		if c < 0 {
			c = -c
		}
		if c != 0 {
			return syscall.Errno(c)
		}
	}
	return fs.Errno(err)
}
