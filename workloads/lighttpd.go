package workloads

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

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

// Lighttpd measures web-server start-up (Debian package lighttpd): Prepare
// writes, per clone, a document root with index.html and a lighttpd.conf
// bound to its own 127.0.0.1 port under Dir in the container; Run starts all
// clones at once with "lighttpd -D -f conf", times each from exec to its
// first HTTP 200 for index.html (polling with short-timeout GETs), then
// stops them. An op is one clone started; Latency["startup"] holds the
// start-up times and Elapsed is the time until the last clone answered.
type Lighttpd struct {
	Clones       int           `toml:"clones"`
	Dir          string        `toml:"dir"`
	FileSize     units.Size    `toml:"file_size"` // size of index.html
	Timeout      time.Duration `toml:"timeout"`   // per clone, exec to first 200
	PollInterval time.Duration `toml:"poll_interval"`

	binary string
	ports  []int
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

func (w *Lighttpd) cloneDir(i int) string { return w.Dir + "/" + strconv.Itoa(i) }

// MakeCmd returns lighttpd's arguments for clone i.
func (w *Lighttpd) MakeCmd(env *Env, i int) []string {
	return []string{"-D", "-f", toolPath(env, w.cloneDir(i)+"/lighttpd.conf")}
}

func (w *Lighttpd) Parameters() map[string]string {
	return map[string]string{"clones": strconv.Itoa(w.Clones)}
}

// config is clone i's lighttpd.conf; paths are as the kernel sees them.
func (w *Lighttpd) config(env *Env, i, port int) string {
	dir := toolPath(env, w.cloneDir(i))
	return fmt.Sprintf(`server.document-root = %q
server.bind = "127.0.0.1"
server.port = %d
server.errorlog = %q
server.max-keep-alive-requests = 0
index-file.names = ( "index.html" )
mimetype.assign = ( ".html" => "text/html" )
`, dir+"/htdocs", port, dir+"/error.log")
}

func (w *Lighttpd) Prepare(ctx context.Context, env *Env) error {
	bin, err := findTool(hostcheck.Lighttpd)
	if err != nil {
		return err
	}
	w.binary = bin
	if err := removeAll(ctx, env.FS, w.Dir); err != nil {
		return err
	}
	releasePorts(w.ports)
	// Free ports now; a port taken by someone else before Run makes
	// that clone fail to start, which Run reports.
	w.ports, err = freePorts(w.Clones)
	if err != nil {
		return fmt.Errorf("workloads: lighttpd: %w", err)
	}
	page := []byte(strings.Repeat("x", int(w.FileSize)))
	for i := range w.Clones {
		d := w.cloneDir(i)
		if err := mkdirAll(ctx, env.FS, d+"/htdocs"); err != nil {
			return err
		}
		if err := writeFile(ctx, env.FS, d+"/htdocs/index.html", int64(len(page)), page); err != nil {
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
	if w.binary == "" {
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
		w.binary = "" // a new Run needs a new Prepare (fresh ports)
	}()

	start := time.Now()
	var wg sync.WaitGroup
	for i := range w.Clones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := toolCommand(ctx, env, w.binary, w.MakeCmd(env, i)...)
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
			lat[i], errs[i] = w.waitReady(ctx, client, i, t0, waits[i])
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("workloads: lighttpd: %w", err)
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
		Counters: map[string]float64{"clones": float64(w.Clones)},
	}, nil
}

// waitReady polls clone i until it answers 200, its process exits, the
// timeout passes or ctx ends.
func (w *Lighttpd) waitReady(ctx context.Context, client *http.Client, i int, t0 time.Time, exited chan error) (time.Duration, error) {
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
			return 0, fmt.Errorf("clone %d exited before answering (%v); see %s/error.log", i, err, w.cloneDir(i))
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
