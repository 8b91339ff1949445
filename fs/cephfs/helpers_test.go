//go:build ceph && cgo

package cephfs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
	"polytropon/internal/testenv"
)

// The tests run against the cluster named by POLYTROPON_CEPH_CONF (its
// client.admin keyring found through the conf, as scripts/ceph-up.sh writes
// it); scripts/test.sh brings one up. Every test works below its own
// directory of a per-run base directory, removed at the end.
const confEnv = testenv.CephConfEnv

var (
	confPath string        // "" when no cluster is configured
	admin    *cephfs.FS    // client.admin mounted at "/"
	baseDir  string        // per-run directory of the file system
	dirSeq   atomic.Uint64 // for unique directory names
	setupErr error         // why the cluster could not be used

	// Unmounting a client that wrote waits about a second for the MDS, so
	// tests close their clients in the background; TestMain waits for
	// them before removing baseDir and fails the run if one failed.
	closing   sync.WaitGroup
	closeMu   sync.Mutex
	closeErrs []error
)

func TestMain(m *testing.M) {
	confPath = os.Getenv(confEnv)
	if confPath != "" {
		setupErr = setupAdmin()
	}
	code := m.Run()
	closing.Wait()
	for _, err := range closeErrs {
		fmt.Fprintf(os.Stderr, "cephfs tests: closing a client: %v\n", err)
		code = 1
	}
	if admin != nil {
		if err := removeAll(context.Background(), admin, baseDir); err != nil {
			fmt.Fprintf(os.Stderr, "cephfs tests: removing %s: %v\n", baseDir, err)
		}
		if err := admin.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "cephfs tests: closing the admin client: %v\n", err)
		}
	}
	os.Exit(code)
}

func setupAdmin() error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, err := cephfs.New(ctx, cephfs.Config{ConfPath: confPath, ID: "admin", Root: "/"})
	if err != nil {
		return err
	}
	admin = a
	baseDir = fmt.Sprintf("polytropon-test/%d-%d", os.Getpid(), time.Now().UnixNano())
	if err := mkdirAll(ctx, admin, baseDir); err != nil {
		return fmt.Errorf("creating %s: %w", baseDir, err)
	}
	return nil
}

// requireCeph skips the test when no cluster is configured and fails it
// when the configured one cannot be used.
func requireCeph(t testing.TB) {
	t.Helper()
	if confPath == "" {
		t.Skipf("needs a Ceph cluster: set %s to its ceph.conf (scripts/ceph-up.sh DIR; scripts/test.sh does it)", confEnv)
	}
	if setupErr != nil {
		t.Fatalf("%s=%s: %v", confEnv, confPath, setupErr)
	}
}

// newDir creates a fresh directory of the file system for t and returns its
// absolute path ("/polytropon-test/.../name-N"); TestMain removes it with
// the rest of the run's base directory.
func newDir(t testing.TB, name string) string {
	t.Helper()
	requireCeph(t)
	rel := fmt.Sprintf("%s/%s-%d", baseDir, sanitize(name), dirSeq.Add(1))
	if err := mkdirAll(t.Context(), admin, rel); err != nil {
		t.Fatalf("mkdir %s: %v", rel, err)
	}
	return "/" + rel
}

func sanitize(s string) string {
	s = strings.NewReplacer("/", "_", " ", "_").Replace(s)
	if len(s) > 80 {
		s = s[len(s)-80:]
	}
	return s
}

// mountAt mounts root as client.admin (or cfg's identity) for t.
func mountAt(t testing.TB, cfg cephfs.Config) *cephfs.FS {
	t.Helper()
	requireCeph(t)
	if cfg.ConfPath == "" {
		cfg.ConfPath = confPath
	}
	f, err := cephfs.New(t.Context(), cfg)
	if err != nil {
		t.Fatalf("mount: %v", err)
	}
	t.Cleanup(func() { closeLater(f) })
	return f
}

// closeLater closes a client in the background (see closing).
func closeLater(f *cephfs.FS) {
	closing.Add(1)
	go func() {
		defer closing.Done()
		if err := f.Close(); err != nil {
			closeMu.Lock()
			closeErrs = append(closeErrs, fmt.Errorf("%s: %w", f.Root(), err))
			closeMu.Unlock()
		}
	}()
}

func mkdirAll(ctx context.Context, s fs.Service, name string) error {
	c := fs.Clean(name)
	if c == "" {
		return nil
	}
	parts := strings.Split(c, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		if err := s.Mkdir(ctx, p, 0o755); err != nil && !errors.Is(err, syscall.EEXIST) {
			return err
		}
	}
	return nil
}

// removeAll removes name and everything below it, through the service.
func removeAll(ctx context.Context, s fs.Service, name string) error {
	st, err := s.Lstat(ctx, name)
	if errors.Is(err, syscall.ENOENT) {
		return nil
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return s.Unlink(ctx, name)
	}
	// Owner-only permission bits (chmod 000 in a case) do not stop root,
	// but make sure the directory stays listable anyway.
	_ = s.Chmod(ctx, name, 0o755)
	d, err := s.OpenDir(ctx, name)
	if err != nil {
		return err
	}
	ents, err := d.ReadDir(0)
	d.Close()
	if err != nil {
		return err
	}
	for _, e := range ents {
		if err := removeAll(ctx, s, name+"/"+e.Name); err != nil {
			return err
		}
	}
	return s.Rmdir(ctx, name)
}

// cephCmd runs the ceph CLI as client.admin of the test cluster.
func cephCmd(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ceph", append([]string{"-c", confPath, "--connect-timeout", "20"}, args...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		t.Fatalf("ceph %s: %v", strings.Join(args, " "), err)
	}
	return string(out)
}

// newTenant creates client.<id> limited to dir (ceph fs authorize) and
// returns its keyring file; the key is removed afterwards.
func newTenant(t testing.TB, id, dir string) string {
	t.Helper()
	keyring := filepath.Join(t.TempDir(), "client."+id+".keyring")
	out := cephCmd(t, "fs", "authorize", "cephfs", "client."+id, dir, "rw")
	if err := os.WriteFile(keyring, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec.CommandContext(ctx, "ceph", "-c", confPath, "auth", "rm", "client."+id).Run()
	})
	return keyring
}

func must(t testing.TB, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func writeFile(t testing.TB, s fs.Service, name string, data []byte) {
	t.Helper()
	f, err := s.Open(t.Context(), name, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, 0o644)
	must(t, err, "create "+name)
	if n, err := f.Pwrite(data, 0); err != nil || n != len(data) {
		t.Fatalf("pwrite %s: got (%d, %v), want (%d, nil)", name, n, err, len(data))
	}
	must(t, f.Close(), "close "+name)
}

func readFile(t testing.TB, s fs.Service, name string) []byte {
	t.Helper()
	f, err := s.Open(t.Context(), name, syscall.O_RDONLY, 0)
	must(t, err, "open "+name)
	defer f.Close()
	st, err := f.Stat()
	must(t, err, "fstat "+name)
	buf := make([]byte, st.Size+1)
	n, err := f.Pread(buf, 0)
	must(t, err, "pread "+name)
	return buf[:n]
}
