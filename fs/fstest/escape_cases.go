package fstest

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"polytropon/fs"
)

func init() {
	registerEscape(
		escapeCase{name: "dotdot_names", fn: escDotdot},
		escapeCase{name: "absolute_symlink_to_outside", fn: escAbsSymlink},
		escapeCase{name: "relative_symlink_climbing", fn: escRelSymlink},
		escapeCase{name: "symlink_in_middle_component", fn: escMiddleSymlink},
		escapeCase{name: "symlink_chain_out", fn: escSymlinkChain},
		escapeCase{name: "symlink_loops", fn: escLoops},
		escapeCase{name: "proc_magic_links", fn: escProc},
		escapeCase{name: "toctou_symlink_swap", fn: escSwap},
		escapeCase{name: "toctou_dir_rename_dotdot", fn: escDirRename},
		escapeCase{name: "hardlink_to_outside", needs: []feature{featHardlinks}, fn: escHardlink},
		escapeCase{name: "rename_out_of_root", fn: escRenameOut},
		escapeCase{name: "rename_outside_in", fn: escRenameIn},
		escapeCase{name: "metadata_through_links", fn: escMetadata},
		escapeCase{name: "readdir_through_links", fn: escReaddir},
		escapeCase{name: "creat_through_dangling_link", fn: escCreatDangling},
		escapeCase{name: "mkdir_symlink_unlink_through_links", fn: escMkdirThroughLink},
		escapeCase{name: "write_through_links", fn: escWriteThroughLink},
	)
}

// links creates, in the service root, symlinks that would reach outside if
// followed on the host: an absolute one to the directory, one to the secret,
// and relative ones climbing with "..". It returns names of the links that
// lead to the directory and to the secret.
func (e *escapeEnv) links(t *testing.T, s fs.Service) (dirLinks, secretLinks []string) {
	t.Helper()
	c := ctx(t)
	add := func(target, name string, toDir bool) {
		if err := s.Symlink(c, target, name); err != nil {
			t.Fatalf("symlink %s -> %s: %v", name, target, err)
		}
		if toDir {
			dirLinks = append(dirLinks, name)
		} else {
			secretLinks = append(secretLinks, name)
		}
	}
	add(e.outside, "abs-dir", true)
	add(e.outside+"/secret", "abs-secret", false)
	add(up+e.outside[1:], "rel-dir", true)
	add(up+e.outside[1:]+"/secret", "rel-secret", false)
	add("../../../../..", "up5", true)
	add("/..", "slash-dotdot", true)
	add("/", "slash", true)
	for _, d := range []string{"up5", "slash-dotdot", "slash"} {
		secretLinks = append(secretLinks, d+e.outside+"/secret")
	}
	return dirLinks, secretLinks
}

func escDotdot(t *testing.T, s fs.Service, e *escapeEnv) {
	for _, name := range e.hostNames("secret") {
		e.tryRead(t, s, name)
	}
	for _, name := range e.hostNames("") {
		e.tryList(t, s, name)
	}
}

func escAbsSymlink(t *testing.T, s fs.Service, e *escapeEnv) {
	symlink(t, s, e.outside+"/secret", "l")
	symlink(t, s, e.outside, "ld")
	e.tryRead(t, s, "l")
	e.tryRead(t, s, "ld/secret")
	e.tryList(t, s, "ld")
}

func escRelSymlink(t *testing.T, s fs.Service, e *escapeEnv) {
	_, secrets := e.links(t, s)
	for _, name := range secrets {
		e.tryRead(t, s, name)
	}
	mkdir(t, s, "a")
	mkdir(t, s, "a/b")
	symlink(t, s, "../../../../../../../../../../../..", "a/b/up")
	e.tryRead(t, s, "a/b/up"+e.outside+"/secret")
}

func escMiddleSymlink(t *testing.T, s fs.Service, e *escapeEnv) {
	dirs, _ := e.links(t, s)
	mkdir(t, s, "d")
	symlink(t, s, "../abs-dir", "d/mid")
	symlink(t, s, "../rel-dir", "d/mid2")
	for _, name := range append(dirs, "d/mid", "d/mid2") {
		e.tryRead(t, s, name+"/secret")
		e.tryRead(t, s, name+"/./secret")
		e.tryRead(t, s, name+"/../"+lastElem(e.outside)+"/secret")
	}
}

func lastElem(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

func escSymlinkChain(t *testing.T, s fs.Service, e *escapeEnv) {
	symlink(t, s, "c2", "c1")
	symlink(t, s, "c3/../c4", "c2")
	mkdir(t, s, "c3")
	symlink(t, s, up, "c4")
	e.tryRead(t, s, "c1"+e.outside+"/secret")
	e.tryList(t, s, "c1"+e.outside)
}

func escLoops(t *testing.T, s fs.Service, e *escapeEnv) {
	symlink(t, s, "loop2/..", "loop1")
	symlink(t, s, "loop1/..", "loop2")
	symlink(t, s, "self/..", "self")
	for _, name := range []string{"loop1", "loop2/x", "self" + e.outside + "/secret", "loop1/" + up + e.outside + "/secret"} {
		// Whether these fail with ELOOP is checked by the conformance
		// suite; here they must only not leave the root (or hang).
		e.tryRead(t, s, name)
		e.tryList(t, s, name)
	}
}

func escProc(t *testing.T, s fs.Service, e *escapeEnv) {
	for i, target := range []string{
		"/proc/self/root" + e.outside + "/secret",
		"/proc/self/cwd/../../../../../../.." + e.outside + "/secret",
		"/proc/1/root" + e.outside + "/secret",
		"/proc/self/fd/0",
		"/dev/fd/0",
	} {
		name := fmt.Sprintf("proc%d", i)
		symlink(t, s, target, name)
		e.tryRead(t, s, name)
		e.tryRead(t, s, target)
	}
	symlink(t, s, "/proc/self/root", "procroot")
	e.tryList(t, s, "procroot"+e.outside)
}

// escSwap swaps a symlink between a benign target and an escaping one while
// other goroutines open, stat, list and change attributes through it.
func escSwap(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	writeFile(t, s, "benign", []byte("benign"), 0o644)
	mkdir(t, s, "benigndir")
	symlink(t, s, "benign", "sw")
	symlink(t, s, "benigndir", "swd")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		evil := []struct{ target, name string }{
			{e.outside + "/secret", "sw"}, {up + e.outside[1:] + "/secret", "sw"},
			{e.outside, "swd"}, {up + e.outside[1:], "swd"},
		}
		for i := 0; !stop.Load(); i++ {
			ev := evil[i%len(evil)]
			benign := "benign"
			if ev.name == "swd" {
				benign = "benigndir"
			}
			for _, target := range []string{ev.target, benign} {
				tmp := fmt.Sprintf("tmp%d", i%2)
				_ = s.Unlink(c, tmp)
				if s.Symlink(c, target, tmp) == nil {
					_ = s.Rename(c, tmp, ev.name, 0)
				}
			}
		}
	}()
	const iterations = 1500
	var readers sync.WaitGroup
	for g := 0; g < 2; g++ {
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; i < iterations; i++ {
				switch i % 6 {
				case 0:
					e.tryRead(t, s, "sw")
				case 1:
					e.tryRead(t, s, "swd/secret")
				case 2:
					e.tryList(t, s, "swd")
				case 3:
					_ = s.Chmod(c, "sw", 0o600)
					_ = s.Chown(c, "sw", 4321, 4321, 0)
				case 4:
					_ = s.Utimens(c, "swd/secret", [2]fs.Timespec{{Sec: 1}, {Sec: 1}}, 0)
					_ = s.Truncate(c, "sw", 0)
				case 5:
					_ = s.Mkdir(c, "swd/newdir", 0o755)
					if f, err := s.Open(c, "swd/created", syscallCreate, 0o644); err == nil {
						f.Close()
					}
				}
			}
		}()
	}
	readers.Wait()
	stop.Store(true)
	wg.Wait()
}

const syscallCreate = syscall.O_CREAT | syscall.O_WRONLY

// escDirRename moves a directory up and down while another goroutine
// resolves ".." chains below it (the classic ".." rename race).
func escDirRename(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	mkdir(t, s, "a")
	mkdir(t, s, "a/b")
	mkdir(t, s, "a/b/c")
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			_ = s.Rename(c, "a/b/c", "c", 0)
			_ = s.Rename(c, "c", "a/b/c", 0)
		}
	}()
	for i := 0; i < 1500; i++ {
		e.tryRead(t, s, "a/b/c/../../../../../../../../.."+e.outside+"/secret")
		e.tryList(t, s, "a/b/c/"+up+e.outside)
	}
	stop.Store(true)
	wg.Wait()
}

func escHardlink(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	dirs, secrets := e.links(t, s)
	for i, old := range append(secrets, e.hostNames("secret")...) {
		name := fmt.Sprintf("hl%d", i)
		if err := s.Link(c, old, name); err == nil {
			e.tryRead(t, s, name)
		}
	}
	writeFile(t, s, "inside", []byte("inside"), 0o644)
	for i, d := range dirs {
		_ = s.Link(c, "inside", d+"/planted")
		_ = s.Link(c, "inside", fmt.Sprintf("%s/../%s/planted%d", d, lastElem(e.outside), i))
	}
	for _, name := range e.hostNames("planted") {
		_ = s.Link(c, "inside", name)
	}
}

func escRenameOut(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	dirs, _ := e.links(t, s)
	for i, d := range dirs {
		name := fmt.Sprintf("mv%d", i)
		writeFile(t, s, name, []byte("moved"), 0o644)
		_ = s.Rename(c, name, d+"/moved", 0)
		_ = s.Rename(c, name, d+"/secret", 0) // would replace the secret
	}
	for _, target := range e.hostNames("moved") {
		writeFile(t, s, "mvx", []byte("moved"), 0o644)
		_ = s.Rename(c, "mvx", target, 0)
	}
}

func escRenameIn(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	_, secrets := e.links(t, s)
	for i, src := range append(secrets, e.hostNames("secret")...) {
		dst := fmt.Sprintf("stolen%d", i)
		if s.Rename(c, src, dst, 0) == nil {
			e.tryRead(t, s, dst)
		}
	}
}

func escMetadata(t *testing.T, s fs.Service, e *escapeEnv) {
	dirs, secrets := e.links(t, s)
	for _, name := range append(append(secrets, dirs...), e.hostNames("secret")...) {
		e.tryMutate(t, s, name)
	}
}

func escReaddir(t *testing.T, s fs.Service, e *escapeEnv) {
	dirs, _ := e.links(t, s)
	for _, name := range dirs {
		e.tryList(t, s, name)
		e.tryList(t, s, name+"/")
		e.tryList(t, s, name+"/.")
	}
}

func escCreatDangling(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	targets := []string{e.outside + "/created", up + e.outside[1:] + "/created"}
	for i, target := range targets {
		name := fmt.Sprintf("dangling%d", i)
		symlink(t, s, target, name)
		for _, flags := range []int{syscallCreate, syscallCreate | syscall.O_EXCL, syscallCreate | syscall.O_TRUNC} {
			if f, err := s.Open(c, name, flags, 0o644); err == nil {
				_, _ = f.Pwrite([]byte("planted"), 0)
				f.Close()
			}
		}
		_ = s.Truncate(c, name, 10)
	}
	for _, name := range e.hostNames("created") {
		if f, err := s.Open(c, name, syscallCreate, 0o644); err == nil {
			f.Close()
		}
	}
}

func escMkdirThroughLink(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	dirs, secrets := e.links(t, s)
	for _, d := range dirs {
		_ = s.Mkdir(c, d+"/newdir", 0o755)
		_ = s.Symlink(c, "x", d+"/newlink")
		_ = s.Unlink(c, d+"/secret")
		_ = s.Rmdir(c, d)
		_ = s.Rmdir(c, d+"/.")
	}
	for _, name := range secrets {
		_ = s.Unlink(c, name)
	}
	for _, name := range e.hostNames("newdir") {
		_ = s.Mkdir(c, name, 0o755)
	}
	for _, name := range e.hostNames("secret") {
		_ = s.Unlink(c, name)
	}
	// Symlink names that leave the root must not be created outside either.
	for _, name := range e.hostNames("newlink") {
		_ = s.Symlink(c, "x", name)
	}
}

func escWriteThroughLink(t *testing.T, s fs.Service, e *escapeEnv) {
	c := ctx(t)
	_, secrets := e.links(t, s)
	for _, name := range secrets {
		for _, flags := range []int{syscall.O_WRONLY | syscall.O_TRUNC, syscall.O_RDWR, syscall.O_WRONLY | syscall.O_APPEND} {
			if f, err := s.Open(c, name, flags, 0); err == nil {
				_, _ = f.Pwrite([]byte("overwritten"), 0)
				_ = f.Truncate(0)
				f.Close()
			}
		}
	}
	if x, ok := s.(fs.Xattrer); ok {
		buf := make([]byte, 256)
		for _, name := range secrets {
			_ = x.Setxattr(c, name, "user.planted", []byte("x"), 0)
			_, _ = x.Listxattr(c, name, buf)
		}
	}
}
