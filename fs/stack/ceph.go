package stack

import (
	"fmt"
	"maps"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/internal/units"
)

// CephFSOptions are the settings of a "cephfs" layer (its cephfs table in
// TOML), a CephFS client (fs/cephfs), so a service stack (and a union
// branch) can be one:
//
//	stack = [{type = "union", branches = [
//	    {type = "cephfs", dir = "/t1/c0", cephfs = {conf = "/etc/ceph/ceph.conf", id = "t1"}},
//	    {type = "cephfs", dir = "/t1/image", readonly = true, shared = "image",
//	     cephfs = {conf = "/etc/ceph/ceph.conf", id = "t1", options = {client_oc_size = 67108864}}}]}]
//
// Layer fields: dir is the directory of the file system mounted as the
// layer's root; readonly makes every change fail with EROFS; shared lets
// instances reuse one client (the clones' image, cached once). Settings:
// conf (required), keyring, id (default "admin"), fs_name, mount_timeout
// (a positive Go duration), and options: libcephfs client options
// (client_*, rados_*, objecter_*, e.g. client_oc_size). Without -tags ceph
// the layer fails with cephfs.ErrUnavailable.
type CephFSOptions struct {
	Conf         string         `toml:"conf"`
	Keyring      string         `toml:"keyring,omitempty"`
	ID           string         `toml:"id,omitempty"`
	FSName       string         `toml:"fs_name,omitempty"`
	MountTimeout units.Duration `toml:"mount_timeout,omitzero"`
	Options      CephConfig     `toml:"options,omitempty"`
}

// LibcephfsPrefixes are the prefixes of the libcephfs client options a
// cephfs layer takes.
var LibcephfsPrefixes = []string{"client_", "rados_", "objecter_"}

// Validate checks the settings without connecting.
func (o *CephFSOptions) Validate() error {
	if o.Conf == "" {
		return fmt.Errorf("cephfs layer: cephfs.conf (a ceph.conf path) is required")
	}
	if o.MountTimeout < 0 {
		return fmt.Errorf("cephfs layer: mount_timeout %v: want a positive duration such as 10s", time.Duration(o.MountTimeout))
	}
	if err := o.Options.Check(LibcephfsPrefixes...); err != nil {
		return fmt.Errorf("cephfs layer: %v", err)
	}
	return nil
}

// buildCephFS makes a cephfs layer. A cephfs layer is a bottom layer:
// below must be nil.
func buildCephFS(l Layer, below fs.Service) (fs.Service, error) {
	if below != nil {
		return nil, fmt.Errorf("%w: a cephfs layer is a backend and cannot sit on other layers", ErrConfig)
	}
	var o CephFSOptions
	if l.CephFS != nil {
		o = *l.CephFS
	}
	if err := o.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	cfg := cephfs.Config{Root: l.Dir, ConfPath: o.Conf, Keyring: o.Keyring, ID: o.ID, FSName: o.FSName,
		MountTimeout: time.Duration(o.MountTimeout), ClientOptions: maps.Clone(o.Options)}
	ctx, cancel := contextWithMountTimeout(cfg.MountTimeout)
	defer cancel()
	f, err := cephfs.New(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if l.ReadOnly {
		return ReadOnly(f), nil
	}
	return f, nil
}
