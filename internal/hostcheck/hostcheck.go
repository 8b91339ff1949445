// Package hostcheck is what the floors use to say whether this host has
// what they need: a capability as an Item (ok or missing, what was found,
// the fix, who needs it), programs found in $PATH or the sbin directories,
// the versions of the external tools the harness runs, and whether a Ceph
// cluster's monitors answer. The floors own their checks (systems' Check,
// workloads' tools, collectors' and pools' requirements); `polytropon
// doctor` and the pre-run check of `polytropon run` collect them.
package hostcheck

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Item is one capability of the host.
type Item struct {
	Name   string `json:"name"`             // "cgroups", "/dev/fuse", "db_bench"
	OK     bool   `json:"ok"`               // present and usable
	Detail string `json:"detail,omitempty"` // what was found (path, mode), or what is wrong
	Fix    string `json:"fix,omitempty"`    // when missing: the package, module, sysctl or command that adds it
	For    string `json:"for,omitempty"`    // who needs it: "systems F, FP", "workload rocksdb"
	// Optional marks a capability whose absence only loses data (a
	// collector falls back or notes "no data"), never a point.
	Optional bool `json:"optional,omitempty"`
}

// Found is an ok Item.
func Found(name, detail, forWhom string) Item {
	return Item{Name: name, OK: true, Detail: detail, For: forWhom}
}

// Missing is a missing Item with its fix.
func Missing(name, detail, fix, forWhom string) Item {
	return Item{Name: name, Detail: detail, Fix: fix, For: forWhom}
}

// sbinDirs hold programs that are not in a normal user's $PATH (lighttpd
// lives in /usr/sbin).
var sbinDirs = []string{"/usr/sbin", "/sbin", "/usr/local/sbin"}

// FindProgram returns the path of the first of names found in $PATH or in
// the sbin directories.
func FindProgram(names ...string) (string, bool) {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, true
		}
		for _, dir := range sbinDirs {
			p := filepath.Join(dir, n)
			if info, err := os.Stat(p); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
				return p, true
			}
		}
	}
	return "", false
}

// Program is an external program and the Debian package that installs it.
type Program struct {
	Names   []string // executable names, first found wins ("db_bench", "rocksdb_db_bench")
	Package string   // Debian package
}

// Find returns the program's path, or an error that names it and its
// package (`apt-get install PKG`).
func (p Program) Find() (string, error) {
	if path, ok := FindProgram(p.Names...); ok {
		return path, nil
	}
	return "", fmt.Errorf("%s not found (%s)", strings.Join(p.Names, " or "), p.Fix())
}

// Fix is the command that installs the program.
func (p Program) Fix() string { return "apt-get install " + p.Package }

// Item is the program as a capability needed by forWhom.
func (p Program) Item(forWhom string) Item {
	if path, err := p.Find(); err == nil {
		return Found(p.Names[0], path, forWhom)
	}
	return Missing(p.Names[0], "not in $PATH or sbin", p.Fix(), forWhom)
}

// ProcFilesystems lists the kernel's filesystem types; tests point it at
// a fixture to play a kernel without one.
var ProcFilesystems = "/proc/filesystems"

// KernelFilesystem reports whether the running kernel offers filesystem
// type fstype (a line of ProcFilesystems).
func KernelFilesystem(fstype string) bool {
	b, err := os.ReadFile(ProcFilesystems)
	return err == nil && HasFilesystem(string(b), fstype)
}

// HasFilesystem reports whether procFilesystems (the text of
// /proc/filesystems) lists fstype.
func HasFilesystem(procFilesystems, fstype string) bool {
	for _, line := range strings.Split(procFilesystems, "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && f[len(f)-1] == fstype {
			return true
		}
	}
	return false
}

// Meminfo returns a /proc/meminfo value in bytes ("MemTotal",
// "MemAvailable"); 0 when it cannot be read.
func Meminfo(key string) int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == key+":" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}
