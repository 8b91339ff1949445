package fstest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"polytropon/fs"
)

// escapeCase is one path-escape attempt.
type escapeCase struct {
	name  string
	needs []feature
	fn    func(t *testing.T, s fs.Service, env *escapeEnv)
}

var escapeCases []escapeCase

func registerEscape(cases ...escapeCase) { escapeCases = append(escapeCases, cases...) }

// RunEscape runs the path-escape suite. newService returns a fresh service and
// outside, a host directory that is not under the service root. RunEscape
// makes sure outside holds a file named "secret" (it writes one with a known
// content unless one with non-empty content is already there), then tries
// every trick it knows through the service API only: ".." chains, absolute
// and relative symlinks that point out, loops, symlinks in middle components,
// a symlink swapped while another goroutine opens through it, hardlinks and
// renames out of the root, and metadata calls through escaping links. It
// asserts that the secret is never read and that nothing under outside was
// created, removed or modified (listing and content hash compared).
func RunEscape(t *testing.T, newService func(t *testing.T) (svc fs.Service, outside string), opts ...Option) {
	cfg := newConfig(opts)
	cases := append([]escapeCase(nil), escapeCases...)
	sort.Slice(cases, func(i, j int) bool { return cases[i].name < cases[j].name })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if reason := cfg.skipReason(tc.name, tc.needs); reason != "" {
				t.Skip(reason)
			}
			s, outside := newService(t)
			env := newEscapeEnv(t, outside)
			tc.fn(t, s, env)
			env.checkUntouched(t)
		})
	}
}

// escapeEnv describes the host directory the service must never reach.
type escapeEnv struct {
	outside   string // absolute host path
	secret    []byte // content of outside/secret
	secretDev uint64
	secretIno uint64
	before    map[string]string
}

func newEscapeEnv(t *testing.T, outside string) *escapeEnv {
	t.Helper()
	abs, err := filepath.Abs(outside)
	if err != nil {
		t.Fatalf("outside %q: %v", outside, err)
	}
	secretPath := filepath.Join(abs, "secret")
	secret, err := os.ReadFile(secretPath)
	if err != nil || len(secret) == 0 {
		secret = []byte(fmt.Sprintf("polytropon-escape-secret-%d-%s\n", os.Getpid(), t.Name()))
		if err := os.WriteFile(secretPath, secret, 0o644); err != nil {
			t.Fatalf("writing %s: %v", secretPath, err)
		}
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secretPath, &st); err != nil {
		t.Fatalf("stat %s: %v", secretPath, err)
	}
	e := &escapeEnv{outside: abs, secret: secret, secretDev: st.Dev, secretIno: st.Ino}
	e.before = snapshot(t, abs)
	return e
}

// snapshot describes every entry under dir: type, mode, owner, size, link
// count, times, content hash or link target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			return err
		}
		desc := fmt.Sprintf("mode=%o uid=%d gid=%d size=%d nlink=%d mtime=%d.%d ctime=%d.%d",
			st.Mode, st.Uid, st.Gid, st.Size, st.Nlink, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
		switch st.Mode & syscall.S_IFMT {
		case syscall.S_IFREG:
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.Copy(h, f)
			f.Close()
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" sha256=%x", h.Sum(nil))
		case syscall.S_IFLNK:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc += " target=" + target
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = desc
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot of %s: %v", dir, err)
	}
	return out
}

func (e *escapeEnv) checkUntouched(t *testing.T) {
	t.Helper()
	after := snapshot(t, e.outside)
	for name, want := range e.before {
		got, ok := after[name]
		switch {
		case !ok:
			t.Errorf("ESCAPE: outside/%s was removed through the service", name)
		case got != want:
			t.Errorf("ESCAPE: outside/%s was modified through the service:\n got  %s\n want %s", name, got, want)
		}
	}
	for name, got := range after {
		if _, ok := e.before[name]; !ok {
			t.Errorf("ESCAPE: outside/%s was created through the service (%s)", name, got)
		}
	}
}

// up climbs far above any plausible root depth.
var up = strings.Repeat("../", 48)

// hostNames are service names that would reach outside/rel if the service
// resolved names against the host.
func (e *escapeEnv) hostNames(rel string) []string {
	p := e.outside + "/" + rel
	return []string{
		"../" + rel,
		"../../" + rel,
		up + p[1:],
		"/../../" + p,
		p,
		"./" + up + "." + p,
		strings.Repeat("../", 300) + p[1:],
	}
}

// tryRead opens name through the service and reads it, failing the test if
// the secret comes back or if name resolves to the secret's inode.
func (e *escapeEnv) tryRead(t *testing.T, s fs.Service, name string) {
	t.Helper()
	if st, err := s.Stat(ctx(t), name); err == nil && st.Dev == e.secretDev && st.Ino == e.secretIno {
		t.Errorf("ESCAPE: Stat(%q) reached the secret (dev %d ino %d)", name, st.Dev, st.Ino)
	}
	f, err := s.Open(ctx(t), name, syscall.O_RDONLY, 0)
	if err != nil {
		return
	}
	defer f.Close()
	buf := make([]byte, 1<<16)
	n, _ := f.Pread(buf, 0)
	if len(e.secret) > 0 && bytes.Contains(buf[:n], e.secret) {
		t.Errorf("ESCAPE: read the secret through %q", name)
	}
	if st, err := f.Stat(); err == nil && st.Dev == e.secretDev && st.Ino == e.secretIno {
		t.Errorf("ESCAPE: Open(%q) reached the secret", name)
	}
}

// tryList lists name through the service and fails if "secret" shows up
// with the secret's inode.
func (e *escapeEnv) tryList(t *testing.T, s fs.Service, name string) {
	t.Helper()
	d, err := s.OpenDir(ctx(t), name)
	if err != nil {
		return
	}
	defer d.Close()
	ents, _ := d.ReadDir(0)
	for _, ent := range ents {
		if ent.Name == "secret" && ent.Ino == e.secretIno {
			t.Errorf("ESCAPE: OpenDir(%q) listed the outside directory", name)
		}
	}
}

// tryMutate runs every mutating call on name; the snapshot comparison at
// the end of the case decides whether any of them reached outside.
func (e *escapeEnv) tryMutate(t *testing.T, s fs.Service, name string) {
	t.Helper()
	c := ctx(t)
	_ = s.Chmod(c, name, 0o777)
	_ = s.Chown(c, name, 4321, 4321, 0)
	_ = s.Chown(c, name, 4321, 4321, atSymlinkNofollow)
	_ = s.Utimens(c, name, [2]fs.Timespec{{Sec: 1}, {Sec: 1}}, 0)
	_ = s.Truncate(c, name, 1)
	if f, err := s.Open(c, name, syscall.O_WRONLY|syscall.O_APPEND, 0); err == nil {
		_, _ = f.Pwrite([]byte("x"), 0)
		_ = f.Allocate(0, 0, 1<<20)
		_ = f.Truncate(3)
		_ = f.Close()
	}
	if x, ok := s.(fs.Xattrer); ok {
		_ = x.Setxattr(c, name, "user.escape", []byte("x"), 0)
		_ = x.Removexattr(c, name, "user.escape")
	}
}
