package service

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"polytropon/fs/fuse"
	"polytropon/fs/mountinfo"
	"polytropon/fs/wire"
	"polytropon/ipc/shm"
)

// Orphan is what a filesystem service that is gone (killed, crashed)
// left behind in this IPC and mount namespace: its segment, the FUSE
// mounts of its instances (dead: ENOTCONN) and the processes still
// attached to its segment (its clients). A service stopped cleanly leaves
// nothing; a new service under the same key replaces the segment, but
// until then nothing else reports it.
type Orphan struct {
	Key        int      // System V key of the segment
	SegmentID  int      // kernel id of the segment
	ServicePid int      // the service that is gone
	Instances  []string // mount paths of its instances (its mount table)
	Mounts     []string // FUSE mount points of its instances
	Processes  []int    // processes attached to the segment
}

// shmEntry is a line of /proc/sysvipc/shm.
type shmEntry struct {
	key, id, creator int
	removed          bool // IPC_RMID done, still attached (SHM_DEST; listed under key 0)
}

// shmDest is the kernel's SHM_DEST bit of a segment's mode: removed,
// destroyed at the last detach.
const shmDest = 0o1000

func sysvSegments() ([]shmEntry, error) {
	f, err := os.Open("/proc/sysvipc/shm")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []shmEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// key shmid perms size cpid lpid nattch ...
		fl := strings.Fields(sc.Text())
		if len(fl) < 7 {
			continue
		}
		key, err1 := strconv.ParseInt(fl[0], 10, 64)
		id, err2 := strconv.Atoi(fl[1])
		mode, err3 := strconv.ParseUint(fl[2], 8, 32)
		cpid, err4 := strconv.Atoi(fl[4])
		if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
			continue // the header line
		}
		out = append(out, shmEntry{key: int(int32(key)), id: id, creator: cpid, removed: mode&shmDest != 0})
	}
	return out, sc.Err()
}

// FindOrphans lists the orphans of services that are gone, among the
// segments with the given keys (none: every segment of the IPC
// namespace). A segment whose creator still runs is not looked at; one
// whose creator is gone is attached read-only and counts when it is a
// service segment whose service pid is gone.
func FindOrphans(keys ...int) ([]Orphan, error) {
	segs, err := sysvSegments()
	if err != nil {
		return nil, fmt.Errorf("service: listing System V segments: %w", err)
	}
	mounts, _ := mountinfo.Read("/proc/self/mountinfo") // no FUSE mounts to report if unreadable
	var out []Orphan
	for _, e := range segs {
		if len(keys) > 0 && !slices.Contains(keys, e.key) {
			continue
		}
		if e.removed || wire.ProcessAlive(e.creator) {
			continue // removed already (a former orphan), or its creator runs
		}
		o, ok := inspectSegment(e)
		if !ok {
			continue
		}
		for _, m := range mounts {
			if m.FSType == fuse.FSType && slices.Contains(o.Instances, strings.TrimPrefix(m.Source, "polytropon:")) {
				o.Mounts = append(o.Mounts, m.Point)
			}
		}
		o.Processes = attachedTo(e.key)
		out = append(out, o)
	}
	return out, nil
}

// inspectSegment reads segment e's header and mount table, read-only.
func inspectSegment(e shmEntry) (Orphan, bool) {
	seg, err := shm.AttachReadOnly(e.id)
	if err != nil {
		return Orphan{}, false
	}
	defer seg.Detach()
	w, err := wire.Open(seg.Bytes())
	if err != nil {
		return Orphan{}, false // not a service segment (or its header is unreadable)
	}
	pid := w.ServicePid()
	if pid > 0 && wire.ProcessAlive(pid) && w.Status() != wire.StatusStopping {
		return Orphan{}, false
	}
	o := Orphan{Key: e.key, SegmentID: e.id, ServicePid: pid}
	for _, m := range w.ReadMountsOfDead() {
		o.Instances = append(o.Instances, m.Path)
	}
	return o, true
}

// attachedTo lists the processes whose memory maps hold the segment of
// key (the kernel names such mappings /SYSV<key in hex>).
func attachedTo(key int) []int {
	name := fmt.Sprintf("/SYSV%08x", uint32(key))
	procs, _ := filepath.Glob("/proc/[0-9]*/maps")
	var out []int
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), name) {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// Remove removes what the service left that can go without touching its
// clients: the FUSE mounts (detached lazily: an open file keeps working
// until closed, then ENOTCONN as before) and the segment (IPC_RMID: the
// key is free at once, the memory goes with the last attached process).
// The processes are only reported.
func (o Orphan) Remove() error {
	var errs []error
	for _, m := range o.Mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	if _, err := unix.SysvShmCtl(o.SegmentID, unix.IPC_RMID, nil); err != nil {
		errs = append(errs, fmt.Errorf("removing segment %d (key %#x): %w", o.SegmentID, o.Key, err))
	}
	return errors.Join(errs...)
}

// ReportOrphans writes the orphans among keys (none: all) to w and, with
// remove, removes them.
func ReportOrphans(w io.Writer, remove bool, keys ...int) error {
	orphans, err := FindOrphans(keys...)
	if err != nil {
		return err
	}
	if len(orphans) == 0 {
		fmt.Fprintln(w, "no orphans: every service segment has its service")
		return nil
	}
	var errs []error
	for _, o := range orphans {
		fmt.Fprintf(w, "orphan: segment key %#x id %d of service pid %d (gone)\n", o.Key, o.SegmentID, o.ServicePid)
		for _, p := range o.Instances {
			fmt.Fprintf(w, "  instance %s\n", p)
		}
		for _, m := range o.Mounts {
			fmt.Fprintf(w, "  fuse mount %s (dead)\n", m)
		}
		for _, p := range o.Processes {
			cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p))
			fmt.Fprintf(w, "  process %d (%s) still attached\n", p, strings.TrimSpace(string(cmd)))
		}
		if remove {
			if err := o.Remove(); err != nil {
				errs = append(errs, err)
				fmt.Fprintf(w, "  not removed: %v\n", err)
			} else {
				fmt.Fprintln(w, "  removed (segment and mounts; the processes are left alone)")
			}
		}
	}
	return errors.Join(errs...)
}
