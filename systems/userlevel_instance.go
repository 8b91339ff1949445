package systems

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs/fuse"
	"polytropon/fs/service"
)

// The pool's filesystem service as D, F, FP and D-ceph run it: started
// inside the pool with its configuration, stopped at teardown.

// userlevelInstance is D (or F, FP: fuse.go) set up for one pool.
type userlevelInstance struct {
	name       string // the system, for messages
	pool       Pool
	containers []Container
	fuse       bool      // the service FUSE-mounts every container's instance
	logPath    string    // the service's stderr
	made       []string  // files start wrote for the service (config, log)
	img        *loopExt4 // the pool's ext4 filesystem of the branches, or nil

	mu      sync.Mutex
	proc    Process
	logFile *os.File
	torn    bool
}

func (in *userlevelInstance) Container(i int) Container { return in.containers[i] }

// ServicePIDs returns the host pid of the pool's filesystem service
// (runner.ServicePIDer): the userlock collector reads its Go runtime lock
// waits through $POLYTROPON_METRICS_FILE.
func (in *userlevelInstance) ServicePIDs() []int {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.proc == nil || in.proc.Exited() {
		return nil
	}
	return []int{in.proc.HostPid()}
}

// start writes the configuration and runs the service in the pool until
// it prints its ready line.
func (in *userlevelInstance) start(ctx context.Context, bin string, cfg service.Config, workDir string, extraEnv []string) error {
	cfgFile := filepath.Join(workDir, "serve.toml")
	f, err := os.Create(cfgFile)
	if err != nil {
		return err
	}
	in.made = append(in.made, cfgFile)
	if err := toml.NewEncoder(f).Encode(cfg); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", cfgFile, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	logPath := filepath.Join(workDir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	in.made = append(in.made, logPath)
	env := append(os.Environ(), extraEnv...)
	pr, pw := io.Pipe()
	in.mu.Lock()
	in.logFile, in.logPath = logFile, logPath
	in.proc, err = in.pool.Start(ctx, Cmd{Path: bin, Args: []string{bin, "serve", "-config", cfgFile}, Env: env, Stdout: pw, Stderr: logFile})
	proc := in.proc
	in.mu.Unlock()
	if err != nil {
		pw.Close()
		return fmt.Errorf("starting the service: %w", err)
	}
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		first := true
		for sc.Scan() {
			if first {
				first = false
				if strings.HasPrefix(sc.Text(), "ready ") {
					ready <- nil
				} else {
					ready <- fmt.Errorf("service said %q", sc.Text())
				}
			}
		}
		if first {
			ready <- fmt.Errorf("service exited before it was ready")
		}
	}()
	go func() {
		proc.Wait()
		pw.Close()
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = fmt.Errorf("service not ready after 30s")
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err != nil {
		log, _ := os.ReadFile(logPath)
		return fmt.Errorf("%w; log %s:\n%s", err, logPath, log)
	}
	// The service mounts before it says ready; check it from its own
	// mount namespace (the pool's).
	if in.fuse {
		for _, c := range in.containers {
			ok, err := fuse.IsMounted(fmt.Sprintf("/proc/%d/mountinfo", proc.HostPid()), c.Dir)
			if !ok {
				return fmt.Errorf("the service is ready but %s is not FUSE-mounted (%v); log %s:\n%s", c.Dir, err, logPath, readTail(logPath))
			}
		}
	}
	return nil
}

// Teardown stops the service (SIGTERM: it unmounts its FUSE mounts, lazily
// when busy, and removes its segment), killing it after 10 s, and removes
// FUSE mounts a killed service left in the pool. A lazy detach is
// reported, like K's.
func (in *userlevelInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	in.torn = true
	var err error
	if in.proc != nil {
		// A service that is gone before it is asked to stop, or that a
		// signal other than ours ended, crashed or was killed: reported.
		gone := in.proc.Exited()
		if !gone {
			in.proc.Signal(syscall.SIGTERM)
		}
		done := make(chan error, 1)
		go func() { done <- in.proc.Wait() }()
		select {
		case werr := <-done:
			// An error without an exit status: the pool went away first.
			if ws, ok := ExitStatus(werr); ok && (gone || ws.Signaled() && ws.Signal() != syscall.SIGTERM) {
				err = fmt.Errorf("systems: %s: the service exited with %v before teardown; log %s:\n%s", in.name, werr, in.logPath, readTail(in.logPath))
			}
		case <-time.After(10 * time.Second):
			in.proc.Signal(syscall.SIGKILL)
			<-done
			err = fmt.Errorf("systems: %s: the service did not stop on SIGTERM within 10s", in.name)
		}
	}
	if in.logFile != nil {
		in.logFile.Close()
		if log, _ := os.ReadFile(in.logPath); bytes.Contains(log, []byte("detached lazily")) {
			err = errors.Join(err, fmt.Errorf("systems: %s: a FUSE mount was busy, detached lazily (processes of the pool still use it)", in.name))
		}
	}
	if in.fuse && in.pool != nil {
		for _, c := range in.containers {
			if uerr := unmountLeftover(ctx, in.pool, c.Dir); uerr != nil {
				err = errors.Join(err, uerr)
			}
		}
	}
	return errors.Join(err, in.img.teardown(ctx))
}
