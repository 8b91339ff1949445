package systems

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/fs"
	"polytropon/fs/client"
	"polytropon/fs/service"
	"polytropon/runner/pool"
)

// D is the user-level stack of the papers on the local backend: one
// filesystem service per pool ("polytropon serve", started inside the pool
// so it shares the pool's cores, memory limit and IPC namespace) with one
// instance per container: a union of the container's private writable
// branch over the shared read-only image (Request.Lower, one libservice
// shared by every clone), optionally under a client cache. Applications
// reach it through the preload library (Container.ProcEnv) and Go workloads
// through the "client" opener (Container.FS), both over the pool's shared
// memory.
//
// Options:
//
//	binary       polytropon executable to run as the service (default:
//	             $POLYTROPON_BIN, this executable if it is polytropon, or
//	             polytropon in PATH)
//	design, wait, copy, buffers, buffer_size, queues, pin
//	             service settings (see fs/service.Config; pin defaults to true)
//	cache        "true" puts a client cache (fs/cache) on top of each
//	             container's union; cache_<option> sets its options
//	             (cache_capacity = "512M", cache_write_through = "true", ...)
func init() {
	Register(&userlevelSystem{})
	RegisterOpener(ClientKind, openClient)
}

// ClientKind is the FSSpec kind of the IPC client of D. Options: "pool"
// (the pool whose service to reach; default $POLYTROPON_POOL), "root" (the
// mount path; default Container.Dir) and "copy" (SMC, SMO or CMA; default
// the service's).
const ClientKind = "client"

func openClient(ctx context.Context, c Container) (fs.Service, error) {
	root := c.FS.Options["root"]
	if root == "" {
		root = c.Dir
	}
	if root == "" {
		return nil, fmt.Errorf("systems: client opener: container has no directory")
	}
	return client.OpenFS(ctx, client.Options{Pool: c.FS.Options["pool"], Copy: c.FS.Options["copy"]}, root)
}

type userlevelSystem struct{}

func (*userlevelSystem) Name() string { return "D" }

// serviceBinary finds the polytropon executable.
func serviceBinary(opt string) (string, error) {
	for _, cand := range []string{opt, os.Getenv("POLYTROPON_BIN")} {
		if cand != "" {
			if _, err := os.Stat(cand); err != nil {
				return "", fmt.Errorf("%w: D: service binary %s: %v", ErrUnavailable, cand, err)
			}
			return cand, nil
		}
	}
	if exe, err := os.Executable(); err == nil && filepath.Base(exe) == "polytropon" {
		return exe, nil
	}
	if p, err := exec.LookPath("polytropon"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: D needs the polytropon binary (set option binary or $POLYTROPON_BIN, or put it in PATH)", ErrUnavailable)
}

// Check reports whether the service binary can be found.
func (*userlevelSystem) Check() error {
	_, err := serviceBinary("")
	return err
}

var userlevelOptions = map[string]bool{
	"binary": true, "design": true, "wait": true, "copy": true, "buffers": true,
	"buffer_size": true, "queues": true, "pin": true, "cache": true,
}

// Setup writes the pool's service configuration and starts the service
// inside the pool.
func (s *userlevelSystem) Setup(ctx context.Context, p *pool.Pool, req Request) (Instance, error) {
	switch req.Backend {
	case "", "local":
	case "ceph":
		return nil, fmt.Errorf("%w: D on the ceph backend needs the cephfs libservice layer, which the service does not build yet", ErrUnavailable)
	default:
		return nil, fmt.Errorf("systems: D: unknown backend %q (want local or ceph)", req.Backend)
	}
	if req.Containers < 1 {
		return nil, fmt.Errorf("systems: D: pool %d asks for %d containers", req.Pool, req.Containers)
	}
	if req.WorkDir == "" {
		return nil, fmt.Errorf("systems: D: empty WorkDir")
	}
	var unknown []string
	for k := range req.Options {
		if !userlevelOptions[k] && !strings.HasPrefix(k, "cache_") {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("systems: D: unknown options %v (have binary, design, wait, copy, buffers, buffer_size, queues, pin, cache, cache_*)", unknown)
	}
	bin, err := serviceBinary(req.Options["binary"])
	if err != nil {
		return nil, err
	}
	cfg, containers, err := userlevelConfig(p.Name(), req)
	if err != nil {
		return nil, err
	}
	in := &userlevelInstance{pool: p, containers: containers}
	if err := in.start(ctx, bin, cfg, req.WorkDir); err != nil {
		if terr := in.Teardown(context.WithoutCancel(ctx)); terr != nil {
			err = errors.Join(err, terr)
		}
		return nil, fmt.Errorf("systems: D setup of pool %d: %w", req.Pool, err)
	}
	return in, nil
}

// userlevelConfig builds the service configuration and the containers.
func userlevelConfig(poolName string, req Request) (service.Config, []Container, error) {
	o := req.Options
	cfg := service.Config{Pool: poolName, Design: o["design"], Wait: o["wait"], Copy: o["copy"], Pin: true}
	for k, dst := range map[string]*int{"buffers": &cfg.Buffers, "buffer_size": &cfg.BufferSize, "queues": &cfg.Queues} {
		if v := o[k]; v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return cfg, nil, fmt.Errorf("systems: D: option %s = %q is not an integer", k, v)
			}
			*dst = n
		}
	}
	if v := o["pin"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, nil, fmt.Errorf("systems: D: option pin = %q is not a boolean", v)
		}
		cfg.Pin = b
	}
	useCache := false
	if v := o["cache"]; v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return cfg, nil, fmt.Errorf("systems: D: option cache = %q is not a boolean", v)
		}
		useCache = b
	}
	cacheOpts := map[string]string{}
	for k, v := range o {
		if strings.HasPrefix(k, "cache_") {
			cacheOpts[strings.TrimPrefix(k, "cache_")] = v
		}
	}
	if len(cacheOpts) > 0 && !useCache {
		return cfg, nil, fmt.Errorf("systems: D: cache_* options without cache = true")
	}
	var lower string
	if req.Lower != "" {
		abs, err := filepath.Abs(req.Lower)
		if err != nil {
			return cfg, nil, err
		}
		st, err := os.Stat(abs)
		if err != nil || !st.IsDir() {
			return cfg, nil, fmt.Errorf("systems: D: lower image %s is not a directory", req.Lower)
		}
		lower = abs
	}
	var containers []Container
	for i := 0; i < req.Containers; i++ {
		cdir := filepath.Join(req.WorkDir, fmt.Sprintf("c%d", i))
		upper, mnt := filepath.Join(cdir, "upper"), filepath.Join(cdir, "root")
		for _, d := range []string{upper, mnt} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return cfg, nil, fmt.Errorf("systems: D: %w", err)
			}
		}
		var top service.Layer
		if lower != "" {
			top = service.Layer{Type: "union", Branches: []service.Layer{
				{Type: "local", Dir: upper},
				{Type: "local", Dir: lower, ReadOnly: true, Shared: "image"},
			}}
		} else {
			top = service.Layer{Type: "local", Dir: upper}
		}
		stack := []service.Layer{top}
		if useCache {
			stack = append([]service.Layer{{Type: "cache", Options: cacheOpts}}, stack...)
		}
		// The mount path is a real (empty) host directory, so programs
		// that look at it before the preload library takes over see a
		// directory.
		cfg.Instances = append(cfg.Instances, service.InstanceConfig{Path: mnt, Share: true, Stack: stack})
		containers = append(containers, Container{
			Dir:     mnt,
			ProcEnv: []string{"POLYTROPON_POOL=" + poolName},
			FS:      FSSpec{Kind: ClientKind, Options: map[string]string{"pool": poolName, "root": mnt}},
		})
	}
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return cfg, nil, fmt.Errorf("systems: D: %w", err)
	}
	return cfg, containers, nil
}

// userlevelInstance is D set up for one pool.
type userlevelInstance struct {
	pool       *pool.Pool
	containers []Container

	mu      sync.Mutex
	proc    *pool.Process
	logFile *os.File
	torn    bool
}

func (in *userlevelInstance) Container(i int) Container { return in.containers[i] }

// start writes the configuration and runs the service in the pool until
// it prints its ready line.
func (in *userlevelInstance) start(ctx context.Context, bin string, cfg service.Config, workDir string) error {
	cfgFile := filepath.Join(workDir, "serve.toml")
	f, err := os.Create(cfgFile)
	if err != nil {
		return err
	}
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
	pr, pw := io.Pipe()
	in.mu.Lock()
	in.logFile = logFile
	in.proc, err = in.pool.Start(ctx, pool.Cmd{Path: bin, Args: []string{bin, "serve", "-config", cfgFile}, Stdout: pw, Stderr: logFile})
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
	return nil
}

// Teardown stops the service (SIGTERM: it removes its segment), killing it
// after 10 s.
func (in *userlevelInstance) Teardown(ctx context.Context) error {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.torn {
		return nil
	}
	in.torn = true
	var err error
	if in.proc != nil && !in.proc.Exited() {
		in.proc.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- in.proc.Wait() }()
		select {
		case werr := <-done:
			var ee *pool.ExitError
			if werr != nil && !errors.As(werr, &ee) && !errors.Is(werr, pool.ErrEngineGone) {
				err = fmt.Errorf("systems: D: waiting for the service: %w", werr)
			}
		case <-time.After(10 * time.Second):
			in.proc.Signal(syscall.SIGKILL)
			<-done
			err = fmt.Errorf("systems: D: the service did not stop on SIGTERM within 10s")
		}
	}
	if in.logFile != nil {
		in.logFile.Close()
	}
	return err
}
