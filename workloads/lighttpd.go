package workloads

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	pfs "polytropon/fs"
	"polytropon/fs/hostfs"
	"polytropon/internal/hostcheck"
	"polytropon/internal/units"
	"polytropon/results"
)

func init() {
	Register("lighttpd", func() Workload {
		// The papers' fig 8 starts 1 to 256 clones in one pool.
		return &Lighttpd{
			Clones:       1,
			Dir:          "lighttpd",
			FileSize:     1 << 10,
			Timeout:      30 * time.Second,
			PollInterval: time.Millisecond,
		}
	})
}

// Lighttpd measures web-server start-up (Debian package lighttpd) as the
// papers' fig 8 does: each clone runs lighttpd from its container's own
// image. The image, below Dir in the container (a root tree: usr/sbin/
// lighttpd, its loader, libraries and modules copied from the host's
// install, etc/lighttpd/lighttpd.conf that every clone shares, and
// var/www/html/index.html), is put there once: by PrepareLower into a
// shared image (pools.shared_lower: every clone's union sees it), else by
// the first Prepare. Prepare writes, per clone, a configuration under
// Dir/run/<i> that includes the image's and binds the clone's own
// 127.0.0.1 port. Run starts all clones at once with the image's loader
// and libraries on the image's binary ("<Dir>/lib64/ld-linux-x86-64.so.2
// --library-path <Dir>/lib/... <Dir>/usr/sbin/lighttpd -D -m <modules>
// -f <conf>"), so the kernel execs and maps the program through the
// container's filesystem (for D the FUSE legacy mount of its instance,
// while lighttpd's own file calls go through the preload library), times
// each from exec to its first HTTP 200 for index.html (polling with
// short-timeout GETs), checks from each clone's /proc/<pid>/maps that
// its program text came from the container (Counters["image_text_files"]:
// executable files mapped from it, over all clones), then stops them. An
// op is one clone started; Latency["startup"] holds the start-up times
// and Elapsed is the time until the last clone answered.
//
// Not a chroot: the preload library resolves paths against the pool's
// mount table, so in a chroot all of D's calls would take the FUSE path.
type Lighttpd struct {
	Clones       int           `toml:"clones"`
	Dir          string        `toml:"dir"`       // the image's root in the container
	FileSize     units.Size    `toml:"file_size"` // size of index.html
	Timeout      time.Duration `toml:"timeout"`   // per clone, exec to first 200
	PollInterval time.Duration `toml:"poll_interval"`

	image *programImage
	ports []int
}

func (w *Lighttpd) Name() string { return "lighttpd" }

// OpKinds: each clone's time to its first HTTP 200.
func (w *Lighttpd) OpKinds() []string { return []string{"startup"} }

// Tools is the external program the workload runs.
func (w *Lighttpd) Tools() []hostcheck.Program { return []hostcheck.Program{hostcheck.Lighttpd} }

func (w *Lighttpd) Validate() error {
	return errors.Join(
		checkRange(w.Name(), "clones", int64(w.Clones), 1, 4096),
		checkName(w.Name(), "dir", w.Dir),
		checkRange(w.Name(), "file_size", int64(w.FileSize), 0, 1<<30),
		checkDuration(w.Name(), "timeout", w.Timeout),
		checkDuration(w.Name(), "poll_interval", w.PollInterval),
	)
}

func (w *Lighttpd) cloneDir(i int) string { return w.Dir + "/run/" + strconv.Itoa(i) }

// The image's configuration and document root, below Dir.
const (
	lighttpdImageConf = "/etc/lighttpd/lighttpd.conf"
	lighttpdDocRoot   = "/var/www/html"
)

// lighttpdImageConfig is what every clone's configuration shares.
const lighttpdImageConfig = `# The clones' shared configuration (the image's); each clone's own file
# includes it and sets server.port, server.document-root, server.errorlog.
server.bind = "127.0.0.1"
server.max-keep-alive-requests = 0
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
`

// MakeCmd returns the loader and its arguments that run clone i's
// lighttpd from the image at env's Dir (after Prepare).
func (w *Lighttpd) MakeCmd(env *Env, i int) (string, []string) {
	root := toolPath(env, w.Dir)
	loader, args := w.image.command(root)
	if w.image.modules != "" {
		args = append(args, "-m", filepath.Join(root, w.image.modules))
	}
	return loader, append(args, "-D", "-f", toolPath(env, w.cloneDir(i)+"/lighttpd.conf"))
}

func (w *Lighttpd) Parameters() map[string]string {
	return map[string]string{"clones": strconv.Itoa(w.Clones)}
}

// config is clone i's lighttpd.conf; paths are as the kernel sees them.
func (w *Lighttpd) config(env *Env, i, port int) string {
	root, dir := toolPath(env, w.Dir), toolPath(env, w.cloneDir(i))
	return fmt.Sprintf(`include %q
server.document-root = %q
server.port = %d
server.errorlog = %q
`, root+lighttpdImageConf, root+lighttpdDocRoot, port, dir+"/error.log")
}

// lighttpdImage resolves the host's lighttpd install: the binary found on
// the host and its modules in ../lib/lighttpd beside its sbin (Debian's
// /usr/lib/lighttpd, which -m points into the image).
func lighttpdImage(ctx context.Context) (*programImage, error) {
	bin, err := findTool(hostcheck.Lighttpd)
	if err != nil {
		return nil, err
	}
	if r, err := filepath.EvalSymlinks(bin); err == nil {
		bin = r
	}
	return resolveImage(ctx, bin, filepath.Join(filepath.Dir(filepath.Dir(bin)), "lib", "lighttpd"))
}

// installImage puts the image below Dir in fsys: the program's files, the
// shared configuration and index.html. What is there already is kept.
func (w *Lighttpd) installImage(ctx context.Context, fsys pfs.Service, im *programImage) error {
	if err := im.install(ctx, fsys, w.Dir); err != nil {
		return err
	}
	if err := putFile(ctx, fsys, w.Dir+lighttpdImageConf, []byte(lighttpdImageConfig), 0o644); err != nil {
		return err
	}
	return putFile(ctx, fsys, w.Dir+lighttpdDocRoot+"/index.html", bytes.Repeat([]byte("x"), int(w.FileSize)), 0o644)
}

// PrepareLower builds the clones' shared image in the host directory dir
// (runner.LowerPreparer), once per image.
func (w *Lighttpd) PrepareLower(ctx context.Context, dir string) error {
	im, err := lighttpdImage(ctx)
	if err != nil {
		return err
	}
	svc, err := hostfs.New(dir)
	if err != nil {
		return err
	}
	defer svc.Close()
	return w.installImage(ctx, svc, im)
}

func (w *Lighttpd) Prepare(ctx context.Context, env *Env) error {
	im, err := lighttpdImage(ctx)
	if err != nil {
		return err
	}
	if err := w.installImage(ctx, env.FS, im); err != nil {
		return err
	}
	w.image = im
	if err := removeAll(ctx, env.FS, w.Dir+"/run"); err != nil {
		return err
	}
	releasePorts(w.ports)
	// Free ports now; a port taken by someone else before Run makes
	// that clone fail to start, which Run reports.
	w.ports, err = freePorts(w.Clones)
	if err != nil {
		return fmt.Errorf("workloads: lighttpd: %w", err)
	}
	for i := range w.Clones {
		d := w.cloneDir(i)
		if err := mkdirAll(ctx, env.FS, d); err != nil {
			return err
		}
		conf := []byte(w.config(env, i, w.ports[i]))
		if err := writeFile(ctx, env.FS, d+"/lighttpd.conf", int64(len(conf)), conf); err != nil {
			return err
		}
	}
	return nil
}

// Ports handed to clones of this process that have not been released, so
// that instances prepared concurrently never get the same port.
var (
	portsMu   sync.Mutex
	portsUsed = map[int]bool{} // guarded by portsMu
)

// freePorts returns n loopback ports free now and not handed out before.
func freePorts(n int) ([]int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for tries := 0; len(ports) < n; tries++ {
		if tries > 4*n+100 {
			return nil, fmt.Errorf("no free loopback ports (%d of %d found)", len(ports), n)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l) // held until all are found, so none repeats
		if p := l.Addr().(*net.TCPAddr).Port; !portsUsed[p] {
			ports = append(ports, p)
		}
	}
	for _, p := range ports {
		portsUsed[p] = true
	}
	return ports, nil
}

func releasePorts(ports []int) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for _, p := range ports {
		delete(portsUsed, p)
	}
}

func (w *Lighttpd) Run(ctx context.Context, env *Env) (*Result, error) {
	if w.image == nil {
		return nil, fmt.Errorf("workloads: lighttpd: Run before Prepare")
	}
	client := &http.Client{
		Timeout:   100 * time.Millisecond,
		Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	}
	defer client.CloseIdleConnections()
	cmds := make([]*exec.Cmd, w.Clones)
	waits := make([]chan error, w.Clones)
	lat := make([]time.Duration, w.Clones)
	errs := make([]error, w.Clones)
	defer func() {
		stopClones(cmds, waits)
		releasePorts(w.ports)
		w.ports = nil
		w.image = nil // a new Run needs a new Prepare (fresh ports)
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for i := range w.Clones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			loader, args := w.MakeCmd(env, i)
			cmd := toolCommand(ctx, env, loader, args...)
			// What the loader or lighttpd says before its error log is
			// open (a missing library, a bad configuration).
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			t0 := time.Now()
			if err := cmd.Start(); err != nil {
				errs[i] = fmt.Errorf("clone %d: start: %w", i, err)
				return
			}
			if toolStarted != nil {
				toolStarted(cmd.Process.Pid)
			}
			cmds[i], waits[i] = cmd, make(chan error, 1)
			go func() { waits[i] <- cmd.Wait() }()
			lat[i], errs[i] = w.waitReady(ctx, client, i, t0, waits[i], &stderr)
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("workloads: lighttpd: %w", err)
	}
	// Every clone's program text came from the container's image.
	root, preload := toolPath(env, w.Dir), preloadFiles(env.ProcEnv)
	var text int
	for i, cmd := range cmds {
		n, err := w.image.imageText(cmd.Process.Pid, root, preload)
		if err != nil {
			return nil, fmt.Errorf("workloads: lighttpd: clone %d: %w", i, err)
		}
		text += n
	}
	h, all := results.NewHistogram(), results.NewHistogram()
	for _, d := range lat {
		h.Record(d)
	}
	all.Merge(h)
	return &Result{
		Ops:      int64(w.Clones),
		Elapsed:  elapsed,
		Latency:  map[string]*results.Histogram{"startup": h, "all": all},
		Counters: map[string]float64{"clones": float64(w.Clones), "image_text_files": float64(text)},
	}, nil
}

// waitReady polls clone i until it answers 200, its process exits (the
// error then quotes its standard error, complete once exited says so),
// the timeout passes or ctx ends.
func (w *Lighttpd) waitReady(ctx context.Context, client *http.Client, i int, t0 time.Time, exited chan error, stderr *bytes.Buffer) (time.Duration, error) {
	url := "http://127.0.0.1:" + strconv.Itoa(w.ports[i]) + "/index.html"
	deadline := t0.Add(w.Timeout)
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(t0), nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		last = err
		select {
		case err := <-exited:
			exited <- err // for stopClones
			return 0, fmt.Errorf("clone %d exited before answering (%v); see %s/error.log: %s", i, err, w.cloneDir(i), tail(stderr.Bytes(), 400))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(w.PollInterval):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("clone %d: no HTTP 200 from %s within %v: %v", i, url, w.Timeout, last)
		}
	}
}

// stopClones sends SIGTERM to every clone's process group, waits up to 5 s,
// then kills what is left.
func stopClones(cmds []*exec.Cmd, waits []chan error) {
	for _, c := range cmds {
		if c != nil && c.Process != nil {
			syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for i, c := range cmds {
		if c == nil {
			continue
		}
		select {
		case <-waits[i]:
		case <-time.After(time.Until(deadline)):
			killGroup(c)
			<-waits[i]
		}
		killGroup(c)
	}
}
