package stack

import (
	"fmt"
	"strings"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
)

// The "cephfs" layer is a CephFS client (fs/cephfs), so a service stack
// (and a union branch) can be one:
//
//	stack = [{type = "union", branches = [
//	    {type = "cephfs", dir = "/t1/c0", options = {conf = "/etc/ceph/ceph.conf", id = "t1"}},
//	    {type = "cephfs", dir = "/t1/image", readonly = true, shared = "image",
//	     options = {conf = "/etc/ceph/ceph.conf", id = "t1"}}]}]
//
// Layer fields: dir is the directory of the file system mounted as the
// layer's root; readonly makes every change fail with EROFS; shared lets
// instances reuse one client (the clones' image, cached once). Options:
// conf (required), keyring, id (default "admin"), fs_name, mount_timeout (a
// Go duration), and any libcephfs client option (client_*, rados_*,
// objecter_*, e.g. client_oc_size). Without -tags ceph the layer fails with
// cephfs.ErrUnavailable.
//
// buildCephFS makes a cephfs layer. A cephfs layer is a bottom layer:
// below must be nil.
func buildCephFS(l Layer, below fs.Service) (fs.Service, error) {
	if below != nil {
		return nil, fmt.Errorf("%w: a cephfs layer is a backend and cannot sit on other layers", ErrConfig)
	}
	cfg := cephfs.Config{Root: l.Dir, ClientOptions: map[string]string{}}
	for k, v := range l.Options {
		switch {
		case k == "conf":
			cfg.ConfPath = v
		case k == "keyring":
			cfg.Keyring = v
		case k == "id":
			cfg.ID = v
		case k == "fs_name":
			cfg.FSName = v
		case k == "mount_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 {
				return nil, fmt.Errorf("%w: cephfs layer: mount_timeout %q: want a positive duration such as 10s", ErrConfig, v)
			}
			cfg.MountTimeout = d
		case strings.HasPrefix(k, "client_"), strings.HasPrefix(k, "rados_"), strings.HasPrefix(k, "objecter_"):
			cfg.ClientOptions[k] = v
		default:
			return nil, fmt.Errorf("%w: cephfs layer: unknown option %q (have conf, keyring, id, fs_name, mount_timeout, client_*, rados_*, objecter_*)", ErrConfig, k)
		}
	}
	if cfg.ConfPath == "" {
		return nil, fmt.Errorf("%w: cephfs layer: options.conf (a ceph.conf path) is required", ErrConfig)
	}
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
