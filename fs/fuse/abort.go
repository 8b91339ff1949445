package fuse

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// A FUSE connection outlives the unmount of its mount when another mount
// namespace holds a copy of the mount: a namespace made (CLONE_NEWNS) while
// the mount existed, on a host whose mounts are private, as a tenant pool
// created meanwhile is. The server's request loops then never end, and
// Unmount would wait for them forever. The owner aborts the connection
// instead (fusectl's abort file): the copies fail with ENOTCONN, and the
// loops end.

// fusectlDir is where fusectl is usually mounted.
const fusectlDir = "/sys/fs/fuse/connections"

// connectionOf returns the fusectl name of the connection serving
// mountpoint: the device number of the mounted file system.
func connectionOf(mountpoint string) (string, error) {
	var st unix.Stat_t
	if err := unix.Stat(mountpoint, &st); err != nil {
		return "", err
	}
	return strconv.FormatUint(uint64(unix.Minor(st.Dev)), 10), nil
}

// abortConnection aborts the FUSE connection conn, mounting fusectl on a
// private temporary directory for the moment when it is not mounted at
// its usual place (needs root).
func abortConnection(conn string) error {
	if err := os.WriteFile(filepath.Join(fusectlDir, conn, "abort"), []byte("1"), 0); err == nil {
		return nil
	}
	dir, err := os.MkdirTemp("", "polytropon-fusectl-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	if err := unix.Mount("fusectl", dir, "fusectl", 0, ""); err != nil {
		return fmt.Errorf("fuse: mounting fusectl to abort connection %s: %w", conn, err)
	}
	defer unix.Unmount(dir, unix.MNT_DETACH)
	if err := os.WriteFile(filepath.Join(dir, conn, "abort"), []byte("1"), 0); err != nil {
		return fmt.Errorf("fuse: aborting connection %s: %w", conn, err)
	}
	return nil
}
