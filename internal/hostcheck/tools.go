package hostcheck

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// Tool is an external program whose version a run records.
type Tool struct {
	Name    string   // key in the versions map ("db_bench")
	Program Program  // how to find it
	Args    []string // arguments that print the version
	// Line picks the output line holding the version: the first one that
	// contains it ("" = the first non-empty line).
	Line string
}

// The external programs of the systems and workloads, by the Debian
// package that installs them.
var (
	Ceph       = Program{[]string{"ceph"}, "ceph-common"}
	CephFuse   = Program{[]string{"ceph-fuse"}, "ceph-fuse"}
	DBBench    = Program{[]string{"db_bench", "rocksdb_db_bench"}, "rocksdb-tools"}
	StressNG   = Program{[]string{"stress-ng"}, "stress-ng"}
	Sysbench   = Program{[]string{"sysbench"}, "sysbench"}
	Lighttpd   = Program{[]string{"lighttpd"}, "lighttpd"}
	Fio        = Program{[]string{"fio"}, "fio"}
	Qemu       = Program{[]string{"qemu-system-x86_64"}, "qemu-system-x86"}
	UnionFS    = Program{[]string{"unionfs", "unionfs-fuse"}, "unionfs-fuse"}
	Bpftrace   = Program{[]string{"bpftrace"}, "bpftrace"}
	Fusermount = Program{[]string{"fusermount3"}, "fuse3"}
)

// Tools are the external programs the harness, its systems and workloads
// run; `polytropon version` and every run's provenance (host.json
// tool_versions) record their versions.
var Tools = []Tool{
	{Name: "ceph", Program: Ceph, Args: []string{"--version"}},
	{Name: "ceph-fuse", Program: CephFuse, Args: []string{"--version"}},
	{Name: "db_bench", Program: DBBench, Args: []string{"--version"}},
	{Name: "stress-ng", Program: StressNG, Args: []string{"--version"}},
	{Name: "sysbench", Program: Sysbench, Args: []string{"--version"}},
	{Name: "lighttpd", Program: Lighttpd, Args: []string{"-v"}},
	{Name: "fio", Program: Fio, Args: []string{"--version"}},
	{Name: "qemu-system-x86_64", Program: Qemu, Args: []string{"--version"}},
	{Name: "unionfs-fuse", Program: UnionFS, Args: []string{"--version"}, Line: "unionfs-fuse version"},
	{Name: "bpftrace", Program: Bpftrace, Args: []string{"--version"}},
}

// versionTimeout bounds one tool's version query (ceph and bpftrace take
// about 0.13 s each on an idle host).
const versionTimeout = 5 * time.Second

// ToolVersions runs every found tool of Tools with its version arguments,
// all at once, and returns tool -> version line; tools not installed are
// left out, a tool that fails to answer is "unknown (...)".
func ToolVersions(ctx context.Context) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range Tools {
		path, ok := FindProgram(t.Program.Names...)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := t.version(ctx, path)
			mu.Lock()
			out[t.Name] = v
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

func (t Tool) version(ctx context.Context, path string) string {
	ctx, cancel := context.WithTimeout(ctx, versionTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, t.Args...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	if line := pickLine(buf.String(), t.Line); line != "" {
		return line
	}
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return "unknown (no output)"
}

// pickLine returns the first non-empty line of out that contains want.
func pickLine(out, want string) string {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && strings.Contains(line, want) {
			return line
		}
	}
	return ""
}
