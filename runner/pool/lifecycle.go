package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func (s *Spec) validate() error {
	if !validName.MatchString(s.Name) {
		return fmt.Errorf("%w: Name %q: want 1-63 characters of [A-Za-z0-9_.-], not starting with a dot or dash", ErrInvalidSpec, s.Name)
	}
	if s.Group == "" {
		s.Group = DefaultGroup
	}
	s.Group = strings.Trim(s.Group, "/")
	for _, part := range strings.Split(s.Group, "/") {
		if !validName.MatchString(part) {
			return fmt.Errorf("%w: Group %q: component %q is not a plain name", ErrInvalidSpec, s.Group, part)
		}
	}
	if len(s.Cores) == 0 {
		return fmt.Errorf("%w: pool %s: Cores is empty", ErrInvalidSpec, s.Name)
	}
	seen := map[int]bool{}
	for _, c := range s.Cores {
		if c < 0 || c >= 1024 || seen[c] {
			return fmt.Errorf("%w: pool %s: Cores %v: core %d is negative, too large or listed twice", ErrInvalidSpec, s.Name, s.Cores, c)
		}
		seen[c] = true
	}
	if s.MemoryBytes < 0 {
		return fmt.Errorf("%w: pool %s: MemoryBytes %d is negative", ErrInvalidSpec, s.Name, s.MemoryBytes)
	}
	s.Cores = append([]int(nil), s.Cores...)
	return nil
}

func create(ctx context.Context, s Spec) (_ *Pool, err error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cg, err := newCgroupSet(s)
	if err != nil {
		return nil, err
	}
	p := &Pool{spec: s, cg: cg, created: sinceBoot()}
	defer func() {
		if err != nil {
			p.destroy(context.WithoutCancel(ctx))
		}
	}()
	eng, err := startEngine(s)
	if err != nil {
		p.destroyed = true
		p.destroyErr = cg.remove()
		return nil, err
	}
	p.engine = eng
	if err := cg.join(eng.pid); err != nil {
		return nil, err
	}
	timeout := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	if err := eng.init(s, timeout); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *Pool) start(ctx context.Context, c Cmd) (*Process, error) {
	p.mu.Lock()
	if p.destroyed {
		p.mu.Unlock()
		return nil, fmt.Errorf("pool %s: %w", p.spec.Name, ErrDestroyed)
	}
	p.mu.Unlock()

	if c.Path == "" {
		return nil, fmt.Errorf("%w: pool %s: Cmd.Path is empty", ErrInvalidSpec, p.spec.Name)
	}
	path := c.Path
	if !strings.Contains(path, "/") {
		lp, err := exec.LookPath(path)
		if err != nil {
			return nil, fmt.Errorf("pool %s: %w", p.spec.Name, err)
		}
		path = lp
	}
	args := c.Args
	if len(args) == 0 {
		args = []string{c.Path}
	}
	env := c.Env
	if env == nil {
		env = os.Environ()
	}

	var (
		childFiles []*os.File // passed to the engine, closed by us afterwards
		copies     []func()   // started after a successful spawn
		cleanup    []*os.File // our pipe ends, closed on failure
	)
	closeChild := func() {
		for _, f := range childFiles {
			f.Close()
		}
	}
	fail := func(err error) (*Process, error) {
		closeChild()
		for _, f := range cleanup {
			f.Close()
		}
		return nil, err
	}
	for i, stream := range []any{c.Stdin, c.Stdout, c.Stderr} {
		child, ours, copyFn, err := stdioFile(stream, i > 0)
		if err != nil {
			return fail(err)
		}
		childFiles = append(childFiles, child)
		if ours != nil {
			cleanup = append(cleanup, ours)
			copies = append(copies, copyFn)
		}
	}
	for i, f := range c.ExtraFiles {
		if f == nil {
			return fail(fmt.Errorf("%w: pool %s: ExtraFiles[%d] is nil", ErrInvalidSpec, p.spec.Name, i))
		}
		dup, err := dupFile(f)
		if err != nil {
			return fail(err)
		}
		childFiles = append(childFiles, dup)
	}
	if len(childFiles) > maxFds {
		return fail(fmt.Errorf("%w: pool %s: %d ExtraFiles, at most %d", ErrInvalidSpec, p.spec.Name, len(c.ExtraFiles), maxFds-3))
	}
	fds := make([]int, len(childFiles))
	for i, f := range childFiles {
		fds[i] = int(f.Fd())
	}
	ep, err := p.engine.request(&message{Op: "spawn", Path: path, Args: args, Env: env, Dir: c.Dir}, fds, ctx.Done())
	closeChild()
	if err != nil {
		for _, f := range cleanup {
			f.Close()
		}
		return nil, fmt.Errorf("pool %s: start %s: %w", p.spec.Name, c.Path, err)
	}
	for _, cp := range copies {
		ep.copies.Add(1)
		go func() { defer ep.copies.Done(); cp() }()
	}
	return &Process{Pid: ep.pid, PoolPid: ep.poolPid, proc: ep}, nil
}

// stdioFile gives the child's end of one standard stream: /dev/null for
// nil, a duplicate of an *os.File, else a pipe whose other end (ours) copyFn
// feeds from the caller's reader or drains into its writer.
func stdioFile(stream any, output bool) (child, ours *os.File, copyFn func(), err error) {
	switch s := stream.(type) {
	case nil:
		flag := os.O_RDONLY
		if output {
			flag = os.O_WRONLY
		}
		child, err = os.OpenFile(os.DevNull, flag, 0)
		return child, nil, nil, err
	case *os.File:
		child, err = dupFile(s)
		return child, nil, nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if output {
		dst := stream.(io.Writer)
		return w, r, func() { io.Copy(dst, r); r.Close() }, nil
	}
	src := stream.(io.Reader)
	return r, w, func() { io.Copy(w, src); w.Close() }, nil
}

// dupFile returns a copy of f's descriptor, so that the caller's file
// stays usable (and open) whatever the engine does with ours.
func dupFile(f *os.File) (*os.File, error) {
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("pool: dup %s: %w", f.Name(), err)
	}
	return os.NewFile(uintptr(fd), f.Name()), nil
}

func (p *Pool) destroy(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.destroyed {
		return p.destroyErr
	}
	p.destroyed = true
	p.destroyErr = p.teardown()
	return p.destroyErr
}

// teardown kills everything, waits, removes the cgroups. It ignores
// cancellation on purpose (Ctrl-C path); DestroyTimeout bounds it.
func (p *Pool) teardown() error {
	deadline := time.Now().Add(DestroyTimeout)
	var errs []error
	if p.engine != nil {
		p.engine.kill() // PID 1: the kernel kills the whole PID namespace
	}
	if err := p.cg.kill(); err != nil {
		errs = append(errs, fmt.Errorf("pool %s: kill: %w", p.spec.Name, err))
	}
	if p.engine != nil {
		select {
		case <-p.engine.exited:
		case <-time.After(time.Until(deadline)):
			errs = append(errs, fmt.Errorf("pool %s: engine %d did not exit within %v", p.spec.Name, p.engine.pid, DestroyTimeout))
		}
		p.engine.shutdown()
		select {
		case <-p.engine.dead:
		case <-time.After(time.Until(deadline)):
		}
		p.engine.closeSock()
	}
	for i := 0; ; i++ {
		empty, err := p.cg.empty()
		if err == nil && empty {
			break
		}
		if time.Now().After(deadline) {
			errs = append(errs, fmt.Errorf("pool %s: processes left after %v (err %v)", p.spec.Name, DestroyTimeout, err))
			break
		}
		p.cg.kill() // processes forked while we were killing
		sleepBackoff(i)
	}
	if err := p.cg.remove(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
