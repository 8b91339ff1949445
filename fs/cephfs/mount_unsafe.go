//go:build ceph && cgo

package cephfs

/*
#cgo LDFLAGS: -lcephfs
#cgo CPPFLAGS: -D_FILE_OFFSET_BITS=64
#include <fcntl.h>
#include <string.h>
#include <stdlib.h>
#include <cephfs/libcephfs.h>

// set_times is utimensat(2) on a path of the mount: ceph_setattrx with
// nanosecond times, AT_SYMLINK_NOFOLLOW honoured.
static int set_times(struct ceph_mount_info *m, const char *path,
                     long long asec, long long ansec, int aset,
                     long long msec, long long mnsec, int mset, int nofollow) {
	struct ceph_statx stx;
	int mask = 0;
	memset(&stx, 0, sizeof stx);
	if (aset) {
		stx.stx_atime.tv_sec = asec;
		stx.stx_atime.tv_nsec = ansec;
		mask |= CEPH_SETATTR_ATIME;
	}
	if (mset) {
		stx.stx_mtime.tv_sec = msec;
		stx.stx_mtime.tv_nsec = mnsec;
		mask |= CEPH_SETATTR_MTIME;
	}
	return ceph_setattrx(m, path, &stx, mask, nofollow ? AT_SYMLINK_NOFOLLOW : 0);
}
*/
import "C"

import (
	"time"
	"unsafe"

	ceph "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"

	"polytropon/fs"
)

// go-ceph's MountInfo holds exactly one field, the C mount handle; go-ceph
// has no path-based utimensat nor umask, so we read the handle. Both
// constants fail to compile if the struct's size ever changes.
const (
	_ = uint(unsafe.Sizeof(ceph.MountInfo{}) - unsafe.Sizeof(uintptr(0)))
	_ = uint(unsafe.Sizeof(uintptr(0)) - unsafe.Sizeof(ceph.MountInfo{}))
)

func rawMount(m *ceph.MountInfo) *C.struct_ceph_mount_info {
	return *(**C.struct_ceph_mount_info)(unsafe.Pointer(m))
}

// setUmask sets the client's file creation mask.
func setUmask(m *ceph.MountInfo, mask uint32) {
	C.ceph_umask(rawMount(m), C.mode_t(mask))
}

// setTimes sets atime and mtime of path with utimensat's UTIME_NOW and
// UTIME_OMIT conventions.
func setTimes(m *ceph.MountInfo, path string, times [2]fs.Timespec, nofollow bool) error {
	now := time.Now()
	var set [2]C.int
	for i := range times {
		switch times[i].Nsec {
		case unix.UTIME_OMIT:
			continue
		case unix.UTIME_NOW:
			times[i] = fs.Timespec{Sec: now.Unix(), Nsec: int64(now.Nanosecond())}
		}
		set[i] = 1
	}
	if set[0] == 0 && set[1] == 0 {
		return nil
	}
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	nf := C.int(0)
	if nofollow {
		nf = 1
	}
	ret := C.set_times(rawMount(m), cpath,
		C.longlong(times[0].Sec), C.longlong(times[0].Nsec), set[0],
		C.longlong(times[1].Sec), C.longlong(times[1].Nsec), set[1], nf)
	if ret < 0 {
		return fs.PathError("utimens", path, unix.Errno(-ret))
	}
	return nil
}
