package service

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs/wire"
)

func TestLockTableConflicts(t *testing.T) {
	var tb lockTable
	key := lockKey{dev: 1, ino: 2}
	a, b := lockOwner{pid: 100}, lockOwner{pid: 200}
	set := func(o lockOwner, typ int, start, end int64) syscall.Errno {
		e, _ := tb.set(key, o, typ, start, end)
		return e
	}

	if e := set(a, unix.F_RDLCK, 0, 100); e != 0 {
		t.Fatalf("read lock: %v", e)
	}
	if e := set(b, unix.F_RDLCK, 50, 150); e != 0 {
		t.Errorf("a second reader on an overlapping range: %v", e)
	}
	if e := set(b, unix.F_WRLCK, 90, 200); e != syscall.EAGAIN {
		t.Errorf("writer over another owner's read lock: %v, want EAGAIN", e)
	}
	// The failed set changed nothing: b still holds its read lock on [50, 150).
	if li, _ := tb.get(key, a, true, 120, 130); li.Type != unix.F_RDLCK || li.Pid != 200 || li.Start != 50 || li.Len != 100 {
		t.Errorf("get after a failed set: %+v", li)
	}
	if e := set(b, unix.F_WRLCK, 100, 200); e != 0 {
		t.Errorf("b upgrading the part of its range nobody else holds: %v", e)
	}
	if e := set(a, unix.F_WRLCK, 0, 40); e != 0 {
		t.Errorf("a upgrading its own range: %v", e)
	}
	if li, _ := tb.get(key, b, false, 0, 10); li.Type != unix.F_WRLCK || li.Pid != 100 || li.Start != 0 || li.Len != 40 {
		t.Errorf("b's view of a's write lock: %+v", li)
	}
	if li, _ := tb.get(key, a, true, 0, 100); li.Type != unix.F_RDLCK || li.Pid != 200 {
		t.Errorf("a's view of b's read lock: %+v", li)
	}
	if li, _ := tb.get(key, a, true, 200, lockEOF); li.Type != unix.F_UNLCK {
		t.Errorf("nobody holds [200, EOF): %+v", li)
	}
	// Another file and the flock namespace are independent.
	if e, _ := tb.set(lockKey{dev: 1, ino: 3}, b, unix.F_WRLCK, 0, lockEOF); e != 0 {
		t.Errorf("write lock on another file: %v", e)
	}
	if e, _ := tb.set(lockKey{flock: true, dev: 1, ino: 2}, b, unix.F_WRLCK, 0, lockEOF); e != 0 {
		t.Errorf("flock of a file with fcntl locks: %v", e)
	}
}

func TestLockTableSplitMergeRelease(t *testing.T) {
	var tb lockTable
	key := lockKey{dev: 1, ino: 2}
	a, b := lockOwner{pid: 100}, lockOwner{pid: 200}
	if e, _ := tb.set(key, a, unix.F_WRLCK, 0, 100); e != 0 {
		t.Fatal(e)
	}
	// Unlocking the middle splits the lock in two.
	if e, _ := tb.set(key, a, unix.F_UNLCK, 40, 60); e != 0 {
		t.Fatal(e)
	}
	if e, _ := tb.set(key, b, unix.F_WRLCK, 40, 60); e != 0 {
		t.Errorf("b in the hole: %v", e)
	}
	for _, r := range [][2]int64{{39, 40}, {60, 61}} {
		if e, _ := tb.set(key, b, unix.F_WRLCK, r[0], r[1]); e != syscall.EAGAIN {
			t.Errorf("b on [%d, %d), still a's: %v", r[0], r[1], e)
		}
	}
	if got := tb.count.Load(); got != 3 {
		t.Errorf("%d locks after the split, want 3", got)
	}
	// Touching locks of one owner and type merge.
	c := lockOwner{pid: 300}
	k2 := lockKey{dev: 1, ino: 9}
	tb.set(k2, c, unix.F_RDLCK, 0, 10)
	tb.set(k2, c, unix.F_RDLCK, 20, 30)
	tb.set(k2, c, unix.F_RDLCK, 10, 20)
	if li, _ := tb.get(k2, a, true, 5, 6); li.Start != 0 || li.Len != 30 {
		t.Errorf("merged lock: %+v, want [0, 30)", li)
	}
	if n := len(tb.files[k2]); n != 1 {
		t.Errorf("%d locks after merging, want 1", n)
	}
	// A process closing an fd of the file loses its locks there only.
	tb.dropProcess(&key, 100)
	if e, _ := tb.set(key, b, unix.F_WRLCK, 0, lockEOF); e != 0 {
		t.Errorf("b after a closed the file: %v", e)
	}
	tb.dropProcess(nil, 200)
	tb.dropProcess(nil, 300)
	if got := tb.count.Load(); got != 0 || len(tb.files) != 0 {
		t.Errorf("after every owner left: %d locks, %d files", got, len(tb.files))
	}
	// Locks of an open file go with it.
	f := &openFile{}
	ofd := lockOwner{file: f}
	tb.set(key, ofd, unix.F_WRLCK, 0, lockEOF)
	if li, _ := tb.get(key, a, false, 0, 1); li.Pid != -1 {
		t.Errorf("an OFD lock reports pid %d, want -1", li.Pid)
	}
	if e, _ := tb.set(key, lockOwner{file: &openFile{}}, unix.F_RDLCK, 0, 1); e != syscall.EAGAIN {
		t.Errorf("another open file of the same process: %v, want EAGAIN", e)
	}
	tb.dropFile(f)
	if tb.active() {
		t.Error("locks left after the open file closed")
	}
}

func TestLockRange(t *testing.T) {
	for _, c := range []struct {
		start, length uint64
		s, e          int64
		errno         syscall.Errno
	}{
		{0, 0, 0, lockEOF, 0},
		{10, 5, 10, 15, 0},
		{1 << 63, 1, 0, 0, syscall.EINVAL},
		{0, 1 << 63, 0, 0, syscall.EINVAL},
		{lockEOF - 1, 2, 0, 0, syscall.EOVERFLOW},
	} {
		s, e, errno := lockRange(c.start, c.length)
		if errno != c.errno || errno == 0 && (s != c.s || e != c.e) {
			t.Errorf("lockRange(%d, %d) = %d, %d, %v; want %d, %d, %v", c.start, c.length, s, e, errno, c.s, c.e, c.errno)
		}
	}
}

// TestForkSlotHoldsFilesAsItsParent: a fork slot the child has not claimed
// yet holds the parent's files, for a lock conflict, as long as the parent
// lives (the child may still claim it), and no longer once the parent died
// (the reaper drops the slot, so the conflict must not keep the lock).
// Once the slot counted as a live holder of a dead parent's flock
// (TestLocks/preload-D under load).
func TestForkSlotHoldsFilesAsItsParent(t *testing.T) {
	f := &openFile{index: 0}
	slot := &client{state: wire.ClientForkPending, parent: os.Getpid(), created: time.Now(), holds: map[uint32]int{0: 1}}
	s := &Service{files: []*openFile{f}, clients: []*client{slot}}
	if !s.fileHeldByLiveClient(f) {
		t.Error("the fork slot of a live parent does not hold the parent's file")
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	slot.parent = gone.Process.Pid // exited and reaped
	if s.fileHeldByLiveClient(f) {
		t.Error("the fork slot of a dead parent holds its file")
	}
	slot.parent, slot.created = os.Getpid(), time.Now().Add(-2*forkClaimTimeout)
	if s.fileHeldByLiveClient(f) {
		t.Error("a fork slot no child claimed in time holds its parent's file")
	}
}

// TestConflictWithReapedHolderRetries: a lock conflict whose holder is
// gone asks the set again even when there is nothing left to reap: the
// housekeeping's reap, which the conflict's reap waited for, may just have
// released the holder's files and its lock (TestLocks/preload once saw
// "after 1": flock(1)'s lock outlived its process by that window).
func TestConflictWithReapedHolderRetries(t *testing.T) {
	f := &openFile{index: 0}
	s := &Service{files: []*openFile{f}}
	if !s.reapIfGone(lockOwner{file: f}) {
		t.Error("a conflict with a file no live client holds is not tried again")
	}
	live := &client{pid: os.Getpid(), holds: map[uint32]int{0: 1}}
	s.clients = []*client{live}
	if s.reapIfGone(lockOwner{file: f}) {
		t.Error("a conflict with a file a live client holds is tried again")
	}
}
