package preload_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
)

// makeTree writes a deterministic tree of files (nested directories, sizes
// from 0 to 3 MiB so that transfers span several request buffers, a
// symlink) under dir.
func makeTree(t testing.TB, dir string, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := 0; i < 24; i++ {
		sub := filepath.Join(dir, "d"+string(rune('a'+i%4)), "e"+string(rune('a'+i%3)))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		size := rng.IntN(64 << 10)
		if i%8 == 0 {
			size = 1<<20 + rng.IntN(2<<20)
		}
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(sub, "f"+string(rune('a'+i))+".bin"), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("da/ea/fa.bin", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
}

// treeSums is "sha256sum" of every regular file under dir (sorted),
// computed by find, sort, xargs and sha256sum through the library when p
// is not nil.
func treeSums(t testing.TB, p *pool, dir, sub string) string {
	t.Helper()
	return run(t, p, dir, 60*time.Second, "sh", "-c", "cd "+sub+" && find . -type f | LC_ALL=C sort | xargs sha256sum")
}

// TestTarSha256: tar extracts an archive into the union through the
// library and through the service's FUSE mount; the checksums of the tree
// match a native extraction, and the data sits in the writable branch.
func TestTarSha256(t *testing.T) {
	testenv.RequireTool(t, "tar", "tar")
	testenv.RequireTool(t, "sha256sum", "coreutils")
	src := t.TempDir()
	makeTree(t, src, 1)
	archive := filepath.Join(t.TempDir(), "tree.tar")
	run(t, nil, src, 60*time.Second, "tar", "cf", archive, ".")

	native := t.TempDir()
	run(t, nil, native, 60*time.Second, "tar", "xf", archive)
	want := treeSums(t, nil, native, ".")

	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		run(t, p, p.Root, 10*time.Second, "mkdir", "x")
		run(t, p, p.Root, 60*time.Second, "tar", "xf", archive, "-C", "x")
		got := treeSums(t, p, p.Root, "x")
		if got != want {
			t.Fatalf("checksums differ\nthrough %s:\n%s\nnative:\n%s", via, got, want)
		}
		if strings.Count(got, "\n") != 24 {
			t.Errorf("%d files summed, want 24", strings.Count(got, "\n"))
		}
		// The same bytes are in the writable branch on the host.
		if hostSums := treeSums(t, nil, p.Upper, "x"); hostSums != want {
			t.Errorf("writable branch holds other data:\n%s", hostSums)
		}
		if l, err := os.Readlink(filepath.Join(p.Upper, "x", "link")); err != nil || l != "da/ea/fa.bin" {
			t.Errorf("symlink in the branch: %q, %v", l, err)
		}
	})
}

// TestLowerBranch: files of the shared read-only branch are read through
// the union (library and FUSE); writing one copies it up and leaves the
// lower branch intact.
func TestLowerBranch(t *testing.T) {
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via, lower: func(d string) { makeTree(t, d, 2) }})
		want := treeSums(t, nil, p.Lower, ".")
		if got := treeSums(t, p, p.Root, "."); got != want {
			t.Fatalf("union view through %s differs from the lower branch\nunion:\n%s\nlower:\n%s", via, got, want)
		}
		run(t, p, p.Root, 10*time.Second, "sh", "-c", "echo changed >> da/ea/fa.bin")
		lower, _ := os.ReadFile(filepath.Join(p.Lower, "da", "ea", "fa.bin"))
		upper, err := os.ReadFile(filepath.Join(p.Upper, "da", "ea", "fa.bin"))
		if err != nil {
			t.Fatalf("no copy-up: %v", err)
		}
		if !bytes.Equal(upper, append(append([]byte(nil), lower...), "changed\n"...)) {
			t.Errorf("copied-up file: %d bytes, lower %d bytes", len(upper), len(lower))
		}
	})
}

// TestGit: git init, add and commit of a tree through the library and
// through FUSE give the same commit id as natively (fixed dates and
// identity).
func TestGit(t *testing.T) {
	testenv.RequireTool(t, "git", "git")
	src := t.TempDir()
	makeTree(t, src, 3)
	script := `set -e
git init -q repo
cp -r "$SRC"/. repo/
cd repo
git add .
git -c user.name=poly -c user.email=poly@example.com commit -q -m tree
git rev-parse HEAD
git status --porcelain
git fsck --no-progress 2>&1
`
	env := []string{"SRC=" + src, "GIT_AUTHOR_DATE=2020-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2020-01-01T00:00:00Z",
		"HOME=" + t.TempDir(), "GIT_CONFIG_NOSYSTEM=1"}
	native := t.TempDir()
	want := runEnv(t, nil, native, env, "sh", "-c", script)
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		got := runEnv(t, p, p.Root, env, "sh", "-c", script)
		if got != want || len(strings.TrimSpace(got)) < 40 {
			t.Fatalf("git through %s printed\n%s\nnatively\n%s", via, got, want)
		}
		if _, err := os.Stat(filepath.Join(p.Upper, "repo", ".git", "HEAD")); err != nil {
			t.Errorf("repository not in the writable branch: %v", err)
		}
	})
}

// TestSqlite: sqlite3 creates and queries a database through the library
// and through FUSE with the same results as natively.
func TestSqlite(t *testing.T) {
	testenv.RequireTool(t, "sqlite3", "sqlite3")
	sql := `create table t(a integer primary key, b text);
with recursive c(x) as (select 1 union all select x+1 from c where x < 20000)
insert into t select x, printf('row-%08d', x*7919 % 100003) from c;
create index tb on t(b);
delete from t where a % 3 = 0;
update t set b = upper(b) where a % 5 = 0;
select count(*), sum(a), min(b), max(b) from t;
select b from t where a between 1000 and 1010 order by b;
pragma integrity_check;
`
	native := t.TempDir()
	want := run(t, nil, native, 60*time.Second, "sqlite3", "db.sqlite", sql)
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		got := run(t, p, p.Root, 60*time.Second, "sqlite3", "db.sqlite", sql)
		if got != want {
			t.Fatalf("sqlite3 through %s:\n%s\nnatively:\n%s", via, got, want)
		}
		again := run(t, p, p.Root, 60*time.Second, "sqlite3", "db.sqlite", "select count(*) from t;")
		if strings.TrimSpace(again) != "13334" {
			t.Errorf("reopened database has %q rows, want 13334", again)
		}
		if st, err := os.Stat(filepath.Join(p.Upper, "db.sqlite")); err != nil || st.Size() < 100<<10 {
			t.Errorf("database in the writable branch: %v", err)
		}
	})
}

func runEnv(t testing.TB, p *pool, dir string, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := contextTimeout(120 * time.Second)
	defer cancel()
	cmd := command(ctx, p, dir, name, args...)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v (%s): %v\n%s", name, args, p.via(), err, out)
	}
	return string(out)
}

// TestAncestorDirfd: programs that start above the mount path and walk
// into it with *at calls relative to a kernel directory fd (tar -C, find,
// rm -r) reach the service, not the empty host directory.
func TestAncestorDirfd(t *testing.T) {
	testenv.RequireTool(t, "tar", "tar")
	testenv.RequireTool(t, "find", "findutils")
	p := startPool(t, poolOpts{})
	src := t.TempDir()
	mnt := filepath.Base(p.Root)
	if err := os.MkdirAll(filepath.Join(src, mnt, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, mnt, "sub", "file"), []byte("deep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "a.tar")
	run(t, nil, src, 30*time.Second, "tar", "cf", archive, mnt)
	parent := filepath.Dir(p.Root)
	run(t, p, parent, 30*time.Second, "tar", "xf", archive, "-C", parent)
	if b, err := os.ReadFile(filepath.Join(p.Upper, "sub", "file")); err != nil || string(b) != "deep\n" {
		t.Fatalf("tar -C above the mount: file in the branch: %q, %v", b, err)
	}
	// The parent also holds the branches (upper/sub/file is the same file
	// seen on the host).
	if got := run(t, p, parent, 30*time.Second, "find", parent, "-name", "file"); !strings.Contains(got, filepath.Join(p.Root, "sub", "file")+"\n") {
		t.Errorf("find from above the mount printed %q", got)
	}
	run(t, p, parent, 30*time.Second, "rm", "-r", filepath.Join(p.Root, "sub"))
	if _, err := os.Stat(filepath.Join(p.Upper, "sub")); !os.IsNotExist(err) {
		t.Errorf("rm -r through the library left the directory: %v", err)
	}
	if ents, _ := os.ReadDir(p.Root); len(ents) != 0 {
		t.Errorf("the host directory under the mount path got %d entries", len(ents))
	}
}
