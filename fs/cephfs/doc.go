// Package cephfs is the libservice of a CephFS client in user space: an
// fs.Service over libcephfs (through github.com/ceph/go-ceph), rooted at one
// directory of the file system. It is the backend client of the paper's D
// system; its client cache (libcephfs's object cacher) is the only cache of
// the stack, configured per tenant through Config.ClientOptions.
//
// # Build
//
// libcephfs is C, so the real implementation is compiled only with the
// build tag "ceph" (and cgo); this Ceph 16 also needs go-ceph's release tag:
//
//	go test -tags "ceph pacific" ./fs/cephfs/
//
// Without the tag the package still compiles, with the same exported API,
// and New returns an error wrapping ErrUnavailable. Only this package imports
// go-ceph.
//
// # Confinement
//
// New mounts Config.Root as the client's root (ceph_mount with a root path),
// so every name, absolute symbolic link and ".." resolves inside it. A
// tenant's key made with `ceph fs authorize cephfs client.tN /tN rw` (see
// scripts/ceph-up.sh --tenants) additionally makes the MDS refuse anything
// outside /tN, whatever the client does.
//
// # Semantics
//
// Errors are *os.PathError values carrying the errno that libcephfs returned
// (go-ceph reports it negated). RENAME_NOREPLACE is emulated (libcephfs has
// no renameat2): it is atomic against other calls of the same FS value, not
// against other clients. O_APPEND writes are serialised per FS value, since
// libcephfs's seek-to-end-and-write is not atomic between threads.
//
// libcephfs follows a relative symbolic link's ".." above the directory a
// client mounted, so FS resolves links itself (lookup in resolve.go) and
// hands libcephfs link-free paths. The walk is atomic against this FS
// value's own Symlink and Rename calls (FS.nsMu); against other clients
// changing the same tree concurrently, confinement rests on the MDS: give
// each tenant a key limited to its directory.
//
// Lock order: FS.nsMu, FS.appendMu and FS.closeMu are never held together.
package cephfs

import (
	"errors"
	"time"
)

// ErrUnavailable is returned by New when this binary cannot reach Ceph: it
// was built without the "ceph" tag (or without cgo).
var ErrUnavailable = errors.New("cephfs: not available")

// DefaultMountTimeout bounds New when Config.MountTimeout is zero: how long
// the client waits for the monitors, authentication and the MDS.
const DefaultMountTimeout = 10 * time.Second

// Config says which cluster, identity and directory a client mounts.
type Config struct {
	// ConfPath is the cluster's ceph.conf (required).
	ConfPath string
	// Keyring is the keyring file of ID; empty means what ConfPath says
	// (scripts/ceph-up.sh clusters find DIR/client.ID.keyring by themselves).
	Keyring string
	// ID is the client name without "client." ("admin", "t1"); empty means
	// "admin".
	ID string
	// Root is the directory of the file system mounted as the service root
	// ("/t1"); empty means "/". It must exist.
	Root string
	// FSName selects the file system when the cluster has several; empty
	// means the default one.
	FSName string
	// ClientOptions are libcephfs configuration options set before the
	// mount, e.g. client_cache_size, client_oc_size, client_oc_max_dirty,
	// client_oc_max_dirty_age, rados_osd_op_timeout. Unknown names fail New.
	ClientOptions map[string]string
	// MountTimeout bounds the mount (monitors, authentication, MDS); zero
	// means DefaultMountTimeout. It also becomes the client's monitor
	// operation timeout unless ClientOptions sets one.
	MountTimeout time.Duration
}
