package ab

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// resolve makes spec (a binary or a commit of opts.SourceDir) runnable.
// A commit that the other side already built is reused: base and new at
// the same commit is an A/A run.
func resolve(ctx context.Context, side, spec, tmp string, opts Options, built []*build) (*build, error) {
	if st, err := os.Stat(spec); err == nil && st.Mode().IsRegular() {
		if st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("ab: %s build %s is not executable", side, spec)
		}
		abs, err := filepath.Abs(spec)
		if err != nil {
			return nil, err
		}
		return &build{side: side, spec: spec, bin: abs}, nil
	}
	out, err := git(ctx, opts.SourceDir, "rev-parse", "--verify", "--quiet", spec+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("ab: %s build %q is neither an executable file nor a commit of %s", side, spec, opts.SourceDir)
	}
	commit := strings.TrimSpace(out)
	for _, b := range built {
		if b.commit == commit && b.preload != "" {
			return &build{side: side, spec: spec, bin: b.bin, commit: commit, preload: b.preload}, nil
		}
	}
	wt := filepath.Join(tmp, "src-"+side)
	if _, err := git(ctx, opts.SourceDir, "worktree", "add", "--detach", wt, commit); err != nil {
		return nil, fmt.Errorf("ab: %s build %s: %w", side, spec, err)
	}
	b := &build{side: side, spec: spec, commit: commit, bin: filepath.Join(wt, "bin", "polytropon"), preload: filepath.Join(wt, "fs", "preload")}
	fmt.Fprintf(opts.Stderr, "building %s (%s) in %s\n", spec, commit[:12], wt)
	args := []string{"build", "-o", b.bin}
	if opts.Tags != "" {
		args = append(args, "-tags", opts.Tags)
	}
	if err := command(ctx, wt, opts.Stderr, "go", append(args, "./cmd/polytropon")...); err != nil {
		return b, fmt.Errorf("ab: building %s build %s: %w", side, spec, err)
	}
	if _, err := os.Stat(filepath.Join(b.preload, "Makefile")); err == nil {
		if err := command(ctx, wt, opts.Stderr, "make", "-s", "-C", b.preload); err != nil {
			return b, fmt.Errorf("ab: building %s build %s's preload library: %w", side, spec, err)
		}
	}
	return b, nil
}

// removeWorktree removes a worktree made by resolve (and its
// administrative files in the repository).
func removeWorktree(src, wt string, stderr io.Writer) {
	if _, err := git(context.Background(), src, "worktree", "remove", "--force", wt); err != nil {
		fmt.Fprintf(stderr, "ab: removing the build worktree %s: %v\n", wt, err)
		_ = os.RemoveAll(wt)
		_, _ = git(context.Background(), src, "worktree", "prune")
	}
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// command runs a build step in dir; its output goes to stderr only when
// it fails.
func command(ctx context.Context, dir string, stderr io.Writer, name string, args ...string) error {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, &out, &out
	if err := cmd.Run(); err != nil {
		stderr.Write(out.Bytes())
		return fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return nil
}
