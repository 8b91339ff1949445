package local

import (
	"context"

	"golang.org/x/sys/unix"
)

// Extended attributes have lgetxattr(2) semantics: a final symlink is not
// followed. The name is resolved inside the root to an O_PATH|O_NOFOLLOW
// descriptor, and the *xattr call goes through its /proc/self/fd magic link,
// which the kernel resolves to exactly that object (an O_PATH descriptor is
// refused by the f*xattr calls).

// Getxattr reads attribute attr of name into dest and returns its size; an
// empty dest asks for the size only.
func (l *Local) Getxattr(_ context.Context, name, attr string, dest []byte) (int, error) {
	var n int
	err := l.withPath("getxattr", name, true, func(fd int) error {
		var err error
		n, err = unix.Getxattr(procFdPath(fd), attr, dest)
		return err
	})
	return n, err
}

// Setxattr sets attribute attr of name; flags are XATTR_CREATE/XATTR_REPLACE.
func (l *Local) Setxattr(_ context.Context, name, attr string, data []byte, flags int) error {
	if err := l.checkWritable("setxattr", name); err != nil {
		return err
	}
	return l.withPath("setxattr", name, true, func(fd int) error {
		return unix.Setxattr(procFdPath(fd), attr, data, flags)
	})
}

// Listxattr writes the NUL-separated attribute names of name into dest and
// returns the size; an empty dest asks for the size only.
func (l *Local) Listxattr(_ context.Context, name string, dest []byte) (int, error) {
	var n int
	err := l.withPath("listxattr", name, true, func(fd int) error {
		var err error
		n, err = unix.Listxattr(procFdPath(fd), dest)
		return err
	})
	return n, err
}

// Removexattr removes attribute attr of name.
func (l *Local) Removexattr(_ context.Context, name, attr string) error {
	if err := l.checkWritable("removexattr", name); err != nil {
		return err
	}
	return l.withPath("removexattr", name, true, func(fd int) error {
		return unix.Removexattr(procFdPath(fd), attr)
	})
}
