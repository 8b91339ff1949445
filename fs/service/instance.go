package service

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"polytropon/fs"
	"polytropon/fs/fuse"
	"polytropon/fs/stack"
	"polytropon/fs/union"
	"polytropon/fs/wire"
)

// instance is one filesystem instance: a stack of libservices at a mount
// path. Fields other than the immutable ones are guarded by Service.mu.
type instance struct {
	id       uint32
	path     string
	svc      fs.Service
	share    bool
	readOnly bool
	stack    *stack.Stack  // what the instance holds of the service's stacks
	layers   []stack.Layer // what it was built from (nil: a clone)
	weight   int           // its tenant's weight in request dispatch; 0: unweighted
	mountIdx uint32

	// guarded by Service.mu
	fuse      *fuse.Server // legacy FUSE mount serving this instance; nil: none
	unmounted bool
	files     int         // service open files on this instance
	holders   int         // instances sharing this one's libservices
	deps      []*instance // instances whose libservices this one shares
}

// addInstanceLocked builds an instance from a stack and mounts it at p.
// Preconditions: s.mu held for writing.
func (s *Service) addInstanceLocked(p string, share bool, layers []stack.Layer) (*instance, error) {
	st, err := s.stacks.Build(layers)
	if err != nil {
		if errors.Is(err, stack.ErrConfig) {
			err = fmt.Errorf("%w: %w", ErrConfig, err)
		}
		return nil, err
	}
	in := &instance{path: p, svc: st.Service, share: share, stack: st, layers: layers}
	if err := s.mountLocked(in); err != nil {
		st.Close()
		return nil, err
	}
	return in, nil
}

// mountLocked gives in an id and a mount-table entry.
// Preconditions: s.mu held for writing.
func (s *Service) mountLocked(in *instance) error {
	for _, o := range s.instances {
		if !o.unmounted && o.path == in.path {
			return fmt.Errorf("service: %s is already mounted (instance %d)", in.path, o.id)
		}
	}
	idx := -1
	for i, used := range s.mountUsed {
		if !used {
			idx = i
			break
		}
	}
	if idx < 0 {
		return fmt.Errorf("service: mount table full (%d entries): %w", len(s.mountUsed), syscall.ENOSPC)
	}
	s.nextInstance++
	in.id = s.nextInstance
	in.mountIdx = uint32(idx)
	flags := uint32(wire.MountUsed)
	if in.share {
		flags |= wire.MountShared
	}
	if in.readOnly {
		flags |= wire.MountReadOnly
	}
	if err := s.w.WriteMount(wire.Mount{Index: uint32(idx), Flags: flags, Service: s.w.Layout.ServiceID, Instance: in.id, Path: in.path}); err != nil {
		return err
	}
	s.mountUsed[idx] = true
	s.instances[in.id] = in
	return nil
}

// unmountLocked removes in's mount entry; the instance is closed once no
// open file and no sharing instance uses it.
// Preconditions: s.mu held for writing.
func (s *Service) unmountLocked(in *instance) {
	if in.unmounted {
		return
	}
	in.unmounted = true
	s.w.WriteMount(wire.Mount{Index: in.mountIdx, Flags: 0, Path: "/"})
	s.mountUsed[in.mountIdx] = false
	s.maybeCloseLocked(in)
}

// maybeCloseLocked closes an unmounted, unused instance and releases the
// instances it shared.
// Preconditions: s.mu held for writing.
func (s *Service) maybeCloseLocked(in *instance) {
	if !in.unmounted || in.files > 0 || in.holders > 0 || in.fuse != nil {
		return
	}
	if _, ok := s.instances[in.id]; !ok {
		return
	}
	delete(s.instances, in.id)
	in.stack.Close()
	for _, d := range in.deps {
		d.holders--
		s.maybeCloseLocked(d)
	}
}

// longestMatchLocked returns the mounted instance whose path is the
// longest prefix of p (path-component wise).
// Preconditions: s.mu held.
func (s *Service) longestMatchLocked(p string) *instance {
	var best *instance
	for _, in := range s.instances {
		if in.unmounted || !hasPathPrefix(p, in.path) {
			continue
		}
		if best == nil || len(in.path) > len(best.path) {
			best = in
		}
	}
	return best
}

func hasPathPrefix(p, prefix string) bool {
	if prefix == "/" {
		return strings.HasPrefix(p, "/")
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// parseOptions splits "k=v,k=v".
func parseOptions(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("mount option %q is not key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

// allowedDir resolves dir and checks that it lies under one of the
// configured mount_dirs (a MOUNT request may not expose any other host
// directory).
func (s *Service) allowedDir(dir string) (string, error) {
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("directory %q is not absolute", dir)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", err
	}
	for _, base := range s.cfg.MountDirs {
		rb, err := filepath.EvalSymlinks(base)
		if err != nil {
			continue
		}
		if real == rb || strings.HasPrefix(real, rb+"/") {
			st, err := os.Stat(real)
			if err != nil {
				return "", err
			}
			if !st.IsDir() {
				return "", fmt.Errorf("%s is not a directory", real)
			}
			return real, nil
		}
	}
	return "", fmt.Errorf("directory %s is not under the service's mount_dirs %v", dir, s.cfg.MountDirs)
}

// mount serves CallMount: full match -> the existing instance; fs type
// "local" (options dir=, readonly=1) -> a new instance over a permitted host
// directory; fs type "clone" (options upper=) with sharing allowed on both
// sides and a partial match -> a new union of a fresh writable branch over
// the matching instance's lower branches when its top is a union (else
// over the matching instance itself), shared by reference. The fresh
// branch is built like the matching instance's writable one (cloneUpper):
// under a cache tenant of the same pool when that one is, as in D's
// default stack.
func (s *Service) mount(p, fstype, options string, share bool) (uint32, syscall.Errno, error) {
	mp, err := CleanMountPath(p)
	if err != nil {
		return 0, syscall.EINVAL, err
	}
	opts, err := parseOptions(options)
	if err != nil {
		return 0, syscall.EINVAL, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	match := s.longestMatchLocked(mp)
	if match != nil && match.path == mp {
		return match.id, 0, nil
	}
	switch fstype {
	case "local":
		dir, err := s.allowedDir(opts["dir"])
		if err != nil {
			return 0, syscall.EACCES, err
		}
		ro := opts["readonly"] == "1" || opts["readonly"] == "true"
		in, err := s.addInstanceLocked(mp, share, []stack.Layer{{Type: stack.Local, Dir: dir, ReadOnly: ro}})
		if err != nil {
			return 0, fs.Errno(err), err
		}
		in.readOnly = ro
		return in.id, 0, nil
	case "clone":
		if match == nil || !share || !match.share {
			return 0, syscall.EPERM, fmt.Errorf("clone of %s: no shareable instance above it", mp)
		}
		// The clone sees what the matching instance's union sees below
		// its writable branch; a matching instance that is no union is
		// itself the clone's read-only lower branch.
		lowers := []fs.Service{match.svc}
		if u, ok := match.svc.(*union.Union); ok {
			lowers = u.Unwrap()[1:]
		}
		dir, err := s.allowedDir(opts["upper"])
		if err != nil {
			return 0, syscall.EACCES, err
		}
		upper, err := s.stacks.Build([]stack.Layer{cloneUpper(match.layers, dir, mp)})
		if err != nil {
			return 0, fs.Errno(err), err
		}
		nu, err := union.New(append([]fs.Service{upper.Service}, lowers...))
		if err != nil {
			upper.Close()
			return 0, fs.Errno(err), err
		}
		st := upper.Under(nu)
		in := &instance{path: mp, svc: nu, share: share, stack: st, weight: match.weight, deps: []*instance{match}}
		if err := s.mountLocked(in); err != nil {
			st.Close()
			return 0, fs.Errno(err), err
		}
		match.holders++
		return in.id, 0, nil
	}
	return 0, syscall.ENODEV, fmt.Errorf("unknown fs type %q (have local, clone)", fstype)
}

// cloneUpper is the writable branch of a clone over dir: built like the
// writable branch of the parent's union (parent, its layers), a local
// layer or a cache tenant (named tenant, in the same pool, same settings)
// over one; a plain local layer when the parent's is anything else.
func cloneUpper(parent []stack.Layer, dir, tenant string) stack.Layer {
	plain := stack.Layer{Type: stack.Local, Dir: dir}
	if len(parent) != 1 || parent[0].Type != stack.Union || len(parent[0].Branches) == 0 {
		return plain
	}
	up := parent[0].Branches[0]
	switch {
	case up.Type == stack.Local:
		return stack.Layer{Type: stack.Local, Dir: dir, ODirect: up.ODirect}
	case up.Type == stack.Cache && len(up.Over) == 1 && up.Over[0].Type == stack.Local:
		var c stack.CacheOptions
		if up.Cache != nil {
			c = *up.Cache
		}
		if c.Pool != "" {
			c.Tenant = tenant
		}
		return stack.Layer{Type: stack.Cache, Cache: &c,
			Over: []stack.Layer{{Type: stack.Local, Dir: dir, ODirect: up.Over[0].ODirect}}}
	}
	return plain
}

// umount serves CallUmount.
func (s *Service) umount(p string) (syscall.Errno, error) {
	mp, err := CleanMountPath(p)
	if err != nil {
		return syscall.EINVAL, err
	}
	s.mu.Lock()
	var found *instance
	for _, in := range s.instances {
		if !in.unmounted && in.path == mp {
			found = in
			s.unmountLocked(in)
			break
		}
	}
	s.mu.Unlock()
	if found == nil {
		return syscall.EINVAL, fmt.Errorf("%s is not a mount point", mp)
	}
	// The instance leaves both interfaces.
	s.stopFuse(found, fuseStopWait)
	return 0, nil
}
