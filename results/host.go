package results

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/internal/buildinfo"
	"polytropon/internal/hostcheck"
)

// HostOptions say what CollectHost cannot find out by itself.
type HostOptions struct {
	// ToolVersions are the versions of external programs the run uses,
	// stored as given; nil means those of every tool of hostcheck.Tools
	// found on this host (hostcheck.ToolVersions).
	ToolVersions map[string]string
	// SourceDir, when set, is a git work tree whose commit and dirty state
	// are recorded if the binary carries no VCS information.
	SourceDir string
	// Args is the command line (default os.Args).
	Args []string
}

// CollectHost gathers the provenance of this host and binary. Fields it
// cannot read stay empty; it never fails.
func CollectHost(ctx context.Context, opt HostOptions) Host {
	build := buildinfo.Read()
	h := Host{
		Cores:        runtime.NumCPU(),
		GoVersion:    build.GoVersion,
		Version:      build.Version,
		BuildTags:    build.Tags,
		GitCommit:    build.Commit,
		GitDirty:     build.Dirty,
		CommandLine:  opt.Args,
		ToolVersions: opt.ToolVersions,
	}
	if h.ToolVersions == nil {
		h.ToolVersions = hostcheck.ToolVersions(ctx)
	}
	if h.CommandLine == nil {
		h.CommandLine = os.Args
	}
	h.Hostname, _ = os.Hostname()
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	h.CPUModel = cpuModel("/proc/cpuinfo")
	h.MemoryBytes = hostcheck.Meminfo("MemTotal")
	h.CgroupMode = cgroupMode("/sys/fs/cgroup")
	if h.GitCommit == "" && opt.SourceDir != "" {
		h.GitCommit, h.GitDirty = gitState(ctx, opt.SourceDir)
	}
	return h
}

func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// cgroupMode is "v2" (unified), "hybrid" (v1 with a unified mount) or "v1".
func cgroupMode(root string) string {
	var st unix.Statfs_t
	if unix.Statfs(root, &st) != nil {
		return ""
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	if unix.Statfs(root+"/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "hybrid"
	}
	return "v1"
}

// gitState reads the commit and dirty flag without touching the index
// (--no-optional-locks: a run never changes the repository).
func gitState(ctx context.Context, dir string) (string, bool) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "git", "--no-optional-locks", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		return "", false
	}
	commit := string(bytes.TrimSpace(out))
	st, err := exec.CommandContext(ctx, "git", "--no-optional-locks", "-C", dir, "status", "--porcelain", "--untracked-files=no").Output()
	return commit, err == nil && len(bytes.TrimSpace(st)) > 0
}
