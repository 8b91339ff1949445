package service

import (
	"syscall"

	"polytropon/fs"
	"polytropon/fs/wire"
)

// The answers the calls share. Each returns serve's triple:
// the value, the errno and whether the request was rejected.

// errnoResult answers a call whose only result is its error.
func errnoResult(err error) (int64, syscall.Errno, bool) {
	return 0, fs.Errno(err), false
}

// sizeResult answers a call that returns a byte count.
func sizeResult(n int, err error) (int64, syscall.Errno, bool) {
	if err != nil {
		return errnoResult(err)
	}
	return int64(n), 0, false
}

// statResult packs what stat returns into Out as a wire Stat.
func statResult(b *wire.Buffer, req *wire.Request, stat func() (fs.Stat, error)) (int64, syscall.Errno, bool) {
	return outResult(b, req, int(wire.StatSize), wire.PutStat, stat)
}

// statfsResult packs what statfs returns into Out as a wire Statfs.
func statfsResult(b *wire.Buffer, req *wire.Request, statfs func() (fs.Statfs, error)) (int64, syscall.Errno, bool) {
	return outResult(b, req, int(wire.StatfsSize), wire.PutStatfs, statfs)
}

// outResult packs what get returns into Out with put. Out must hold size
// bytes, and get runs only once it is checked.
func outResult[T any](b *wire.Buffer, req *wire.Request, size int, put func([]byte, *T), get func() (T, error)) (int64, syscall.Errno, bool) {
	out, e := b.Bytes(req.Out)
	if e != 0 || len(out) < size {
		return 0, syscall.EINVAL, true
	}
	v, err := get()
	if err != nil {
		return errnoResult(err)
	}
	put(out, &v)
	return int64(size), 0, false
}
