package service

import (
	"fmt"
	"sync"
	"time"

	"polytropon/fs/fuse"
)

// The legacy interface (paper digest §2, "dual interface"): an instance
// may also be mounted with FUSE, so that statically linked programs and
// kernel-initiated I/O (exec of a binary, mmap of shared libraries) reach
// the same libservice stack that preloaded programs reach over shared
// memory. Both paths call the same instance object (same union, same
// cache, same shared branches); only open files differ: a FUSE open is a
// libservice File of the bridge, not a service open file.

// fuseStopWait bounds how long shutdown waits for a lazily detached FUSE
// mount to stop serving files that are still open.
const fuseStopWait = 2 * time.Second

// mountFuse mounts in with FUSE at dir. The instance is not closed while
// the mount serves it (maybeCloseLocked checks in.fuse).
func (s *Service) mountFuse(in *instance, dir string, kernelCache bool) error {
	srv, err := fuse.Mount(in.svc, dir, fuse.Options{
		KernelCache: kernelCache,
		AllowOther:  true, // the pool's containers may run as other users
		FsName:      fmt.Sprintf("polytropon:%s", in.path),
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	in.fuse = srv
	s.mu.Unlock()
	s.log.Printf("instance %s: mounted with FUSE on %s (kernel cache %v)", in.path, dir, kernelCache)
	return nil
}

// stopFuse removes in's FUSE mount: a plain unmount, or a lazy detach when
// it is busy (open files, a working directory), so no mount stays in the
// namespace either way. The instance is released once the FUSE server
// has stopped serving; stopFuse waits at most wait for that.
func (s *Service) stopFuse(in *instance, wait time.Duration) {
	s.mu.Lock()
	srv := in.fuse
	s.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.Unmount(); err != nil {
		if derr := srv.Detach(); derr != nil {
			s.log.Printf("instance %s: cannot remove the FUSE mount %s: %v; lazy unmount: %v", in.path, srv.Mountpoint(), err, derr)
			return
		}
		s.log.Printf("instance %s: FUSE mount %s was busy, detached lazily", in.path, srv.Mountpoint())
	} else {
		s.log.Printf("instance %s: FUSE mount %s unmounted", in.path, srv.Mountpoint())
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Wait()
		s.mu.Lock()
		defer s.mu.Unlock()
		if in.fuse == srv {
			in.fuse = nil
			s.maybeCloseLocked(in)
		}
	}()
	select {
	case <-done:
	case <-time.After(wait):
		s.log.Printf("instance %s: the detached FUSE mount still serves open files after %v", in.path, wait)
	}
}

// stopAllFuse removes every FUSE mount of the service.
func (s *Service) stopAllFuse(wait time.Duration) {
	s.mu.RLock()
	var ins []*instance
	for _, in := range s.instances {
		if in.fuse != nil {
			ins = append(ins, in)
		}
	}
	s.mu.RUnlock()
	var wg sync.WaitGroup
	for _, in := range ins {
		wg.Go(func() { s.stopFuse(in, wait) })
	}
	wg.Wait()
}

// FuseMounts returns the FUSE mount point of every instance that has one,
// keyed by instance path.
func (s *Service) FuseMounts() map[string]string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := map[string]string{}
	for _, in := range s.instances {
		if in.fuse != nil {
			out[in.path] = in.fuse.Mountpoint()
		}
	}
	return out
}
