//go:build ceph && cgo

package cephfs

import (
	"strings"
	"syscall"

	ceph "github.com/ceph/go-ceph/cephfs"
	"golang.org/x/sys/unix"
)

// maxSymlinks is how many symbolic links one lookup may follow (Linux's
// limit), beyond which it fails with ELOOP.
const maxSymlinks = 40

// lookup resolves a service name into a client path free of symbolic links
// (except the last component when follow is false), following links itself
// and keeping the walk inside the root: ".." at the root stays at the root
// and absolute targets start from the root. libcephfs alone would let a
// relative link climb above a client mounted at a subdirectory.
//
// A missing last component is not an error (the caller may create it); a
// missing or non-directory intermediate one is (ENOENT, ENOTDIR).
//
// Preconditions: f.nsMu is held (for reading or writing), so no call of
// this client swaps a resolved component for a link before the caller uses
// the path.
func (f *FS) lookup(name string, follow bool) (string, error) {
	var resolved []string // physical, link-free components
	pending := splitPath(name)
	links := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
			continue
		}
		if len(c) > nameMax {
			return "", syscall.ENAMETOOLONG
		}
		last := len(pending) == 0
		cand := "/" + strings.Join(append(resolved, c), "/")
		if last && !follow {
			resolved = append(resolved, c)
			break
		}
		st, err := f.mount.Statx(cand, ceph.StatxMode, ceph.AtSymlinkNofollow|ceph.AtStatxDontSync)
		if err != nil {
			if e := errnoOf(err); e != syscall.ENOENT || !last {
				return "", e
			}
			resolved = append(resolved, c)
			break
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			links++
			if links > maxSymlinks {
				return "", syscall.ELOOP
			}
			target, err := f.mount.Readlink(cand)
			if err != nil {
				return "", errnoOf(err)
			}
			if strings.HasPrefix(target, "/") {
				resolved = resolved[:0]
			}
			pending = append(splitPath(target), pending...)
		case unix.S_IFDIR:
			resolved = append(resolved, c)
		default:
			if !last {
				return "", syscall.ENOTDIR
			}
			resolved = append(resolved, c)
		}
	}
	return "/" + strings.Join(resolved, "/"), nil
}

// splitPath splits a name or link target into components, keeping ".."
// (it is resolved physically, after the links before it).
func splitPath(p string) []string {
	return strings.FieldsFunc(p, func(r rune) bool { return r == '/' })
}
