package union

import (
	"context"
	"errors"
	"strings"
	"syscall"

	"polytropon/fs"
)

// maxSymlinks bounds symbolic-link resolution, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// errIndirect reports that a directory component of a name is a symbolic
// link: the name must be resolved component by component (walk).
var errIndirect = errors.New("union: symbolic link in a directory component")

// probe results: what the cache knows about a name in one branch.
type probeResult int

const (
	probeAsk     probeResult = iota // ask the branch
	probeAbsent                     // the branch certainly has no such name
	probeNotDir                     // a non-directory sits on the way
	probeSymlink                    // a directory component is a symbolic link
)

// probe walks the directory components of a cleaned name in one branch
// through the cache, so that a branch is asked only for names it may hold
// and never resolves a symbolic link on the union's behalf.
func (u *Union) probe(ctx context.Context, branch int, name string) (probeResult, error) {
	if name == "" {
		return probeAsk, nil
	}
	dir, base := fs.Split(name)
	cur, rest := "", dir
	for {
		res := probeAsk
		err := u.info(ctx, branch, cur, func(e *dirInfo) {
			switch {
			case e.symlink:
				res = probeSymlink
			case e.blocked:
				res = probeNotDir
			case !e.exists:
				res = probeAbsent
			case cur == dir && e.names != nil:
				if _, ok := e.names[base]; !ok {
					res = probeAbsent
				}
			}
		})
		if err != nil || res != probeAsk {
			return res, err
		}
		if cur == dir {
			return probeAsk, nil
		}
		elem, after, _ := strings.Cut(rest, "/")
		cur, rest = join(cur, elem), after
	}
}

// statIn is Lstat of a canonical name in one branch. A symbolic link on
// the way in that branch hides the name (the merged directory above it is a
// real directory of another branch).
func (u *Union) statIn(ctx context.Context, branch int, name string) (fs.Stat, error) {
	res, err := u.probe(ctx, branch, name)
	if err != nil {
		return fs.Stat{}, err
	}
	switch res {
	case probeAbsent, probeSymlink:
		return fs.Stat{}, fs.PathError("lstat", name, syscall.ENOENT)
	case probeNotDir:
		return fs.Stat{}, fs.PathError("lstat", name, syscall.ENOTDIR)
	}
	return u.branches[branch].Lstat(ctx, name)
}

// lookup finds the visible entry of a canonical name (one whose directory
// components are real directories in the merged view) without following a
// final symbolic link: the first branch, top down, that holds the name,
// unless a branch above it holds a whiteout for the name, an opaque
// directory or a non-directory on the way.
func (u *Union) lookup(ctx context.Context, name string) (int, fs.Stat, error) {
	return u.lookupMode(ctx, 0, name, true)
}

// lookupFrom is lookup ignoring the branches above start.
func (u *Union) lookupFrom(ctx context.Context, start int, name string) (int, fs.Stat, error) {
	return u.lookupMode(ctx, start, name, true)
}

// lookupMode is lookup; unless canonical, it returns errIndirect when a
// directory component may be a symbolic link.
func (u *Union) lookupMode(ctx context.Context, start int, name string, canonical bool) (int, fs.Stat, error) {
	last := len(u.branches) - 1
	for i := start; i <= last; i++ {
		res, err := u.probe(ctx, i, name)
		if err != nil {
			return -1, fs.Stat{}, err
		}
		switch res {
		case probeSymlink:
			if !canonical {
				return -1, fs.Stat{}, errIndirect
			}
			return -1, fs.Stat{}, fs.PathError("lstat", name, syscall.ENOENT)
		case probeNotDir:
			return -1, fs.Stat{}, fs.PathError("lstat", name, syscall.ENOTDIR)
		case probeAsk:
			st, err := u.branches[i].Lstat(ctx, name)
			if err == nil {
				return i, st, nil
			}
			if errno := fs.Errno(err); errno != syscall.ENOENT {
				return -1, fs.Stat{}, fs.PathError("lstat", name, errno)
			}
		}
		if i == last {
			break
		}
		hidden, err := u.hiddenIn(ctx, i, name, true)
		if err != nil {
			return -1, fs.Stat{}, err
		}
		if hidden {
			break
		}
	}
	return -1, fs.Stat{}, fs.PathError("lstat", name, syscall.ENOENT)
}

// hiddenIn reports whether branch hides, from the branches below it, the
// canonical name: with an opaque or non-directory ancestor, a whiteout for
// an ancestor, or (when self) a whiteout for the name itself.
func (u *Union) hiddenIn(ctx context.Context, branch int, name string, self bool) (bool, error) {
	if name == "" {
		return false, nil
	}
	dir, rest := "", name
	for {
		elem, after, more := strings.Cut(rest, "/")
		isLast := !more
		var hidden, stop bool
		err := u.info(ctx, branch, dir, func(e *dirInfo) {
			switch {
			case e.symlink || e.blocked:
				hidden, stop = true, true
			case !e.exists:
				// Nothing deeper exists in this branch.
				stop = true
			case e.opaque:
				hidden, stop = true, true
			default:
				if _, wh := e.whiteouts[elem]; wh && (self || !isLast) {
					hidden, stop = true, true
				}
			}
		})
		if err != nil {
			return false, err
		}
		if stop || isLast {
			return hidden, nil
		}
		dir, rest = join(dir, elem), after
	}
}

// find looks up a caller's cleaned name in the merged view, following a
// final symbolic link when follow is set, and returns the canonical name
// of what it found: directory components that are symbolic links are
// resolved through the merged view, not by a branch. When the final
// component does not exist, the canonical name is still returned with
// ENOENT, for O_CREAT and friends.
func (u *Union) find(ctx context.Context, name string, follow bool) (string, int, fs.Stat, error) {
	b, st, err := u.lookupMode(ctx, 0, name, false)
	links := 0
	if err == errIndirect {
		return u.walk(ctx, "", name, follow, &links)
	}
	if err != nil || !follow || !st.IsSymlink() {
		return name, b, st, err
	}
	return u.followLink(ctx, name, b, &links)
}

// followLink resolves the symbolic link name (visible in branch b).
func (u *Union) followLink(ctx context.Context, name string, b int, links *int) (string, int, fs.Stat, error) {
	if *links++; *links > maxSymlinks {
		return name, -1, fs.Stat{}, fs.PathError("lookup", name, syscall.ELOOP)
	}
	target, err := u.branches[b].Readlink(ctx, name)
	if err != nil {
		return name, -1, fs.Stat{}, err
	}
	base, _ := fs.Split(name)
	if strings.HasPrefix(target, "/") {
		base = "" // absolute targets are relative to the union root
	}
	return u.walk(ctx, base, target, true, links)
}

// walk resolves the slash-separated path rest, relative to the canonical
// directory start, one component at a time through the merged view, with
// ".." taken physically (after resolving the links before it), as the
// kernel does. A final symbolic link is followed when follow is set.
func (u *Union) walk(ctx context.Context, start, rest string, follow bool, links *int) (string, int, fs.Stat, error) {
	cur := start
	elems := strings.Split(rest, "/")
	for k, elem := range elems {
		last := k == len(elems)-1
		switch elem {
		case "", ".":
			if last {
				b, st, err := u.lookup(ctx, cur)
				return cur, b, st, err
			}
			continue
		case "..":
			cur, _ = fs.Split(cur)
			if last {
				b, st, err := u.lookup(ctx, cur)
				return cur, b, st, err
			}
			continue
		}
		if strings.HasPrefix(elem, whiteoutPrefix) {
			return join(cur, elem), -1, fs.Stat{}, fs.PathError("lookup", join(cur, elem), syscall.EINVAL)
		}
		next := join(cur, elem)
		b, st, err := u.lookup(ctx, next)
		if err != nil {
			if !last && fs.Errno(err) == syscall.ENOENT {
				// Keep the rest so that the caller's error names it.
				next = fs.Clean(next + "/" + strings.Join(elems[k+1:], "/"))
			}
			return next, b, st, err
		}
		if st.IsSymlink() && (follow || !last) {
			resolved, b2, st2, err := u.followLink(ctx, next, b, links)
			if last || err != nil {
				return resolved, b2, st2, err
			}
			if !st2.IsDir() {
				return resolved, -1, fs.Stat{}, fs.PathError("lookup", resolved, syscall.ENOTDIR)
			}
			cur = resolved
			continue
		}
		if last {
			return next, b, st, nil
		}
		if !st.IsDir() {
			return next, -1, fs.Stat{}, fs.PathError("lookup", next, syscall.ENOTDIR)
		}
		cur = next
	}
	b, st, err := u.lookup(ctx, cur)
	return cur, b, st, err
}

// dirBranches returns, top down, the branches whose directory name is part
// of the merged directory whose top copy is in branch top.
func (u *Union) dirBranches(ctx context.Context, top int, name string) ([]int, error) {
	last := len(u.branches) - 1
	res := []int{top}
	for j := top; j < last; j++ {
		if j != top {
			st, err := u.statIn(ctx, j, name)
			switch {
			case err == nil && st.IsDir():
				res = append(res, j)
			case err == nil:
				return res, nil // a non-directory hides lower directories
			case fs.Errno(err) != syscall.ENOENT:
				return res, nil
			default:
				hidden, err := u.hiddenIn(ctx, j, name, true)
				if err != nil || hidden {
					return res, err
				}
				continue
			}
		}
		opaque, err := u.isOpaque(ctx, j, name)
		if err != nil || opaque {
			return res, err
		}
		hidden, err := u.hiddenIn(ctx, j, name, false)
		if err != nil || hidden {
			return res, err
		}
	}
	if top != last {
		st, err := u.statIn(ctx, last, name)
		if err == nil && st.IsDir() {
			res = append(res, last)
		}
	}
	return res, nil
}
