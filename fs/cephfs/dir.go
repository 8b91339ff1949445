//go:build ceph && cgo

package cephfs

import (
	"syscall"

	ceph "github.com/ceph/go-ceph/cephfs"

	"polytropon/fs"
)

// dir streams a directory with ceph_readdir_r; d_type comes from the MDS.
type dir struct {
	d      *ceph.Directory
	name   string
	eof    bool
	closed bool
}

var _ fs.Dir = (*dir)(nil)

// ReadDir implements fs.Dir.
func (d *dir) ReadDir(n int) ([]fs.Dirent, error) {
	if d.closed {
		return nil, fs.PathError("readdir", d.name, syscall.EBADF)
	}
	out := []fs.Dirent{}
	for !d.eof && (n <= 0 || len(out) < n) {
		e, err := d.d.ReadDir()
		if err != nil {
			return out, pathErr("readdir", d.name, err)
		}
		if e == nil {
			d.eof = true
			break
		}
		if nm := e.Name(); nm != "." && nm != ".." {
			out = append(out, fs.Dirent{Name: nm, Ino: uint64(e.Inode()), Type: uint8(e.DType())})
		}
	}
	return out, nil
}

// Close implements fs.Dir.
func (d *dir) Close() error {
	if d.closed {
		return fs.PathError("closedir", d.name, syscall.EBADF)
	}
	d.closed = true
	return pathErr("closedir", d.name, d.d.Close())
}
