// Package mountinfo reads /proc/<pid>/mountinfo (proc(5)): which file
// systems are mounted where, in the mount namespace of that process.
package mountinfo

import (
	"os"
	"strconv"
	"strings"
)

// Entry is one mount: its mount point, file system type and source, with
// the kernel's octal escapes undone.
type Entry struct {
	Point  string
	FSType string
	Source string
}

// Parse parses mountinfo text. The mount point is field 5; the file system
// type and source follow the "-" that ends the optional fields. Lines that
// do not have this shape are skipped.
func Parse(text string) []Entry {
	var out []Entry
	for _, line := range strings.Split(text, "\n") {
		f := strings.Fields(line)
		if len(f) < 7 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			continue
		}
		out = append(out, Entry{Point: Unescape(f[4]), FSType: f[sep+1], Source: Unescape(f[sep+2])})
	}
	return out
}

// Read parses a mountinfo file, e.g. "/proc/self/mountinfo" or another
// process's, to look into its mount namespace.
func Read(path string) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(string(data)), nil
}

// Mounted reports whether the mountinfo file at path lists a mount (of any
// type) on dir.
func Mounted(path, dir string) (bool, error) {
	entries, err := Read(path)
	if err != nil {
		return false, err
	}
	for _, e := range entries {
		if e.Point == dir {
			return true, nil
		}
	}
	return false, nil
}

// Unescape undoes mountinfo's octal escapes (\040 for a space, \011 tab,
// \012 newline, \134 backslash); a backslash not followed by three octal
// digits stays as it is.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
