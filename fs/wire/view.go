package wire

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/ipc/shm"
)

// monoBase pairs one CLOCK_MONOTONIC reading with a time.Time, so that
// MonotonicNow can use Go's monotonic clock (the vDSO's CLOCK_MONOTONIC)
// instead of a clock_gettime system call, which x/sys/unix makes.
var monoBase, monoTime = func() (uint64, time.Time) {
	var ts unix.Timespec
	unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return uint64(ts.Nano()), time.Now()
}()

// MonotonicNow is CLOCK_MONOTONIC in nanoseconds, the clock of Heartbeat
// (comparable across processes).
func MonotonicNow() uint64 { return monoBase + uint64(time.Since(monoTime)) }

// Heartbeat returns the last heartbeat.
func (s *Seg) Heartbeat() uint64 { return atomic.LoadUint64(s.heartbeat) }

// Beat stores the current time as the heartbeat.
func (s *Seg) Beat() { atomic.StoreUint64(s.heartbeat, MonotonicNow()) }

// Status returns Header.Status.
func (s *Seg) Status() uint32 { return atomic.LoadUint32(s.status) }

// SetStatus stores Header.Status.
func (s *Seg) SetStatus(v uint32) { atomic.StoreUint32(s.status, v) }

// ServicePid returns the pid of the service that formatted the segment.
func (s *Seg) ServicePid() int { return int(int32(atomic.LoadUint32(s.pid))) }

// Alive reports whether the service looks alive: its status is ready, its
// process exists and is not a zombie, and its heartbeat is younger than
// HeartbeatStale (a hung or frozen service).
func (s *Seg) Alive() error {
	if st := s.Status(); st != StatusReady {
		return fmt.Errorf("service status %d (not ready)", st)
	}
	if pid := s.ServicePid(); pid <= 0 || !ProcessAlive(pid) {
		return fmt.Errorf("service pid %d is gone", pid)
	}
	age := time.Duration(MonotonicNow() - s.Heartbeat())
	if int64(age) > int64(HeartbeatStale) {
		if stopped(s.ServicePid()) {
			return fmt.Errorf("service is stopped, its heartbeat %v old", age.Round(time.Millisecond))
		}
		if int64(age) > int64(HeartbeatSilent) {
			return fmt.Errorf("service heartbeat is %v old", age.Round(time.Millisecond))
		}
	}
	return nil
}

// stopped reports whether pid is stopped (job control or a tracer).
func stopped(pid int) bool {
	st := processState(pid)
	return st == 'T' || st == 't'
}

// processState returns the state letter of /proc/pid/stat (0 if unknown).
func processState(pid int) byte {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The state follows the last ')' (the command name may contain one).
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return b[i+2]
	}
	return 0
}

// ProcessAlive reports whether pid exists and is not a zombie (a zombie
// answers kill(pid, 0) but will never act again).
func ProcessAlive(pid int) bool {
	if err := unix.Kill(pid, 0); err == unix.ESRCH {
		return false
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); os.IsNotExist(err) {
		return false
	}
	st := processState(pid)
	return st != 'Z' && st != 'X'
}

// Mount is one decoded mount-table entry.
type Mount struct {
	Index    uint32
	Flags    uint32
	Service  uint32
	Instance uint32
	Path     string
}

func (s *Seg) mountRegion(i uint32) (shm.Region, error) {
	if i >= s.Layout.NumMounts {
		return shm.Region{}, fmt.Errorf("%w: mount %d of %d", ErrBadSegment, i, s.Layout.NumMounts)
	}
	return s.R.Sub(s.Layout.MountsOff+uint64(i)*MountEntrySize, MountEntrySize)
}

// ReadMounts returns the used entries of the mount table and the seqlock
// generation they were read at, retrying while the service writes.
func (s *Seg) ReadMounts() ([]Mount, uint64) {
	for tries := 0; ; tries++ {
		g := atomic.LoadUint64(s.mountGen)
		if g%2 == 1 {
			if tries > 100 {
				time.Sleep(time.Microsecond)
			} else {
				runtime.Gosched()
			}
			continue
		}
		out := s.readMounts()
		if atomic.LoadUint64(s.mountGen) == g {
			return out, g
		}
	}
}

// ReadMountsOfDead reads the mount table of a service that is gone,
// without the seqlock (its writer may have died mid-write, leaving the
// generation odd for good): torn entries are skipped, not waited for.
func (s *Seg) ReadMountsOfDead() []Mount { return s.readMounts() }

func (s *Seg) readMounts() []Mount {
	var out []Mount
	for i := uint32(0); i < s.Layout.NumMounts; i++ {
		r, err := s.mountRegion(i)
		if err != nil {
			break
		}
		flags, _ := r.LoadUint32(mFlags)
		if flags&MountUsed == 0 {
			continue
		}
		n, _ := r.LoadUint32(mPathLen)
		if n == 0 || n > MountPathMax {
			continue // a torn or scribbled entry; the seqlock check decides
		}
		svc, _ := r.LoadUint32(mService)
		inst, _ := r.LoadUint32(mInstance)
		b, _ := r.Slice(mPath, uint64(n))
		out = append(out, Mount{Index: i, Flags: flags, Service: svc, Instance: inst, Path: string(b)})
	}
	return out
}

// MountGen returns the mount table's seqlock generation.
func (s *Seg) MountGen() uint64 { return atomic.LoadUint64(s.mountGen) }

// WriteMount sets (m.Flags has MountUsed) or clears entry m.Index under the
// seqlock. Only the service writes the table, from one goroutine at a time.
func (s *Seg) WriteMount(m Mount) error {
	r, err := s.mountRegion(m.Index)
	if err != nil {
		return err
	}
	if len(m.Path) == 0 || len(m.Path) > MountPathMax {
		return fmt.Errorf("%w: mount path of %d bytes (1..%d)", ErrBadParams, len(m.Path), MountPathMax)
	}
	atomic.AddUint64(s.mountGen, 1)
	defer atomic.AddUint64(s.mountGen, 1)
	r.StoreUint32(mFlags, m.Flags)
	r.StoreUint32(mService, m.Service)
	r.StoreUint32(mInstance, m.Instance)
	b, _ := r.Slice(mPath, MountPathMax)
	clear(b)
	copy(b, m.Path)
	r.StoreUint32(mPathLen, uint32(len(m.Path)))
	return nil
}

// ClientSlotRegion returns the region of client slot i.
func (s *Seg) ClientSlotRegion(i uint32) (shm.Region, error) {
	if i >= s.Layout.NumClients {
		return shm.Region{}, fmt.Errorf("%w: client slot %d of %d", ErrBadSegment, i, s.Layout.NumClients)
	}
	return s.R.Sub(s.Layout.ClientsOff+uint64(i)*ClientSlotSize, ClientSlotSize)
}

// ClientInfo is a decoded client slot.
type ClientInfo struct {
	State, Gen uint32
	Pid        int
	Token      uint64
}

// Client reads client slot i.
func (s *Seg) Client(i uint32) (ClientInfo, error) {
	r, err := s.ClientSlotRegion(i)
	if err != nil {
		return ClientInfo{}, err
	}
	st, _ := r.LoadUint32(cState)
	pid, _ := r.LoadUint32(cPid)
	gen, _ := r.LoadUint32(cGen)
	tok, _ := r.LoadUint64(cToken)
	return ClientInfo{State: st, Pid: int(int32(pid)), Gen: gen, Token: tok}, nil
}

// SetClient writes the header words of client slot i (service only).
func (s *Seg) SetClient(i uint32, c ClientInfo) error {
	r, err := s.ClientSlotRegion(i)
	if err != nil {
		return err
	}
	r.StoreUint32(cPid, uint32(int32(c.Pid)))
	r.StoreUint32(cGen, c.Gen)
	r.StoreUint64(cToken, c.Token)
	r.StoreUint32(cState, c.State)
	return nil
}

// SetExecBlob stores an exec-state blob in client slot i (service only).
func (s *Seg) SetExecBlob(i uint32, blob []byte) error {
	r, err := s.ClientSlotRegion(i)
	if err != nil {
		return err
	}
	if len(blob) > ExecBlobMax {
		return fmt.Errorf("%w: exec blob of %d bytes (at most %d)", ErrBadParams, len(blob), ExecBlobMax)
	}
	b, _ := r.Slice(cExec, ExecBlobMax)
	copy(b, blob)
	return r.StoreUint32(cExecLen, uint32(len(blob)))
}

// ExecBlob reads the exec-state blob of client slot i.
func (s *Seg) ExecBlob(i uint32) ([]byte, error) {
	r, err := s.ClientSlotRegion(i)
	if err != nil {
		return nil, err
	}
	n, _ := r.LoadUint32(cExecLen)
	if n > ExecBlobMax {
		return nil, fmt.Errorf("%w: exec blob length %d", ErrBadSegment, n)
	}
	b, _ := r.Slice(cExec, uint64(n))
	return append([]byte(nil), b...), nil
}
