package union

import (
	"context"
	"strings"
	"syscall"

	"polytropon/fs"
)

// OpenDir opens the merged directory: the entries of the directory in every
// branch where it is visible (see dirBranches), top down, without
// duplicates, whiteouts, names hidden by whiteouts, or the union's markers.
// Each entry's Ino and Type come from the branch that shows it.
func (u *Union) OpenDir(ctx context.Context, name string) (fs.Dir, error) {
	name, err := u.check("opendir", name)
	if err != nil {
		return nil, err
	}
	target, b, st, err := u.find(ctx, name, true)
	if err != nil {
		return nil, perr("opendir", name, err)
	}
	if !st.IsDir() {
		return nil, fs.PathError("opendir", name, syscall.ENOTDIR)
	}
	brs, err := u.dirBranches(ctx, b, target)
	if err != nil {
		return nil, perr("opendir", name, err)
	}
	d := &mergedDir{u: u, ctx: context.WithoutCancel(ctx), name: target, branches: brs}
	if d.cur, err = u.branches[brs[0]].OpenDir(ctx, target); err != nil {
		return nil, perr("opendir", name, err)
	}
	return d, nil
}

// mergedDir streams a merged directory branch by branch. It remembers the
// names returned from every branch but the last, to drop lower duplicates;
// the whiteouts of upper branches come from the union's cache.
type mergedDir struct {
	u        *Union
	ctx      context.Context
	name     string
	branches []int
	pos      int                 // index in branches of the stream being read
	cur      fs.Dir              // open stream of branches[pos], or nil
	seen     map[string]struct{} // names already returned
	closed   bool
}

func (d *mergedDir) ReadDir(n int) ([]fs.Dirent, error) {
	if d.closed {
		return nil, fs.PathError("readdir", d.name, syscall.EBADF)
	}
	var out []fs.Dirent
	for n <= 0 || len(out) < n {
		if d.pos >= len(d.branches) {
			break
		}
		b := d.branches[d.pos]
		if d.cur == nil {
			cur, err := d.u.branches[b].OpenDir(d.ctx, d.name)
			if fs.Errno(err) == syscall.ENOENT {
				d.pos++
				continue
			}
			if err != nil {
				return out, err
			}
			d.cur = cur
		}
		want := n - len(out) // all that is left when n <= 0
		if n <= 0 {
			want = 0
		}
		ents, err := d.cur.ReadDir(want)
		if err != nil {
			return out, err
		}
		if len(ents) == 0 {
			d.cur.Close()
			d.cur = nil
			d.pos++
			continue
		}
		last := d.pos == len(d.branches)-1
		for _, e := range ents {
			if strings.HasPrefix(e.Name, whiteoutPrefix) {
				continue
			}
			if d.pos > 0 {
				if _, dup := d.seen[e.Name]; dup {
					continue
				}
				hidden, err := d.whitedOut(e.Name)
				if err != nil {
					return out, err
				}
				if hidden {
					continue
				}
			}
			if !last {
				if d.seen == nil {
					d.seen = make(map[string]struct{})
				}
				d.seen[e.Name] = struct{}{}
			}
			out = append(out, e)
		}
	}
	if out == nil {
		out = []fs.Dirent{}
	}
	return out, nil
}

// whitedOut reports whether a branch above the current one whites name out.
func (d *mergedDir) whitedOut(name string) (bool, error) {
	for _, b := range d.branches[:d.pos] {
		wh, err := d.u.isWhiteout(d.ctx, b, d.name, name)
		if err != nil || wh {
			return wh, err
		}
	}
	return false, nil
}

func (d *mergedDir) Close() error {
	if d.closed {
		return fs.PathError("closedir", d.name, syscall.EBADF)
	}
	d.closed = true
	if d.cur != nil {
		err := d.cur.Close()
		d.cur = nil
		return err
	}
	return nil
}
