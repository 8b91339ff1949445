package wire

import (
	"encoding/binary"
	"fmt"

	"polytropon/fs"
)

var ne = binary.NativeEndian

var (
	sDev       = fieldOffset(Stat{}, "Dev")
	sIno       = fieldOffset(Stat{}, "Ino")
	sMode      = fieldOffset(Stat{}, "Mode")
	sNlink     = fieldOffset(Stat{}, "Nlink")
	sUid       = fieldOffset(Stat{}, "Uid")
	sGid       = fieldOffset(Stat{}, "Gid")
	sRdev      = fieldOffset(Stat{}, "Rdev")
	sSize      = fieldOffset(Stat{}, "Size")
	sBlksize   = fieldOffset(Stat{}, "Blksize")
	sBlocks    = fieldOffset(Stat{}, "Blocks")
	sAtimeSec  = fieldOffset(Stat{}, "AtimeSec")
	sAtimeNsec = fieldOffset(Stat{}, "AtimeNsec")
	sMtimeSec  = fieldOffset(Stat{}, "MtimeSec")
	sMtimeNsec = fieldOffset(Stat{}, "MtimeNsec")
	sCtimeSec  = fieldOffset(Stat{}, "CtimeSec")
	sCtimeNsec = fieldOffset(Stat{}, "CtimeNsec")
)

// PutStat encodes st into b (len(b) >= StatSize).
func PutStat(b []byte, st *fs.Stat) {
	_ = b[StatSize-1]
	ne.PutUint64(b[sDev:], st.Dev)
	ne.PutUint64(b[sIno:], st.Ino)
	ne.PutUint32(b[sMode:], st.Mode)
	ne.PutUint32(b[sNlink:], st.Nlink)
	ne.PutUint32(b[sUid:], st.Uid)
	ne.PutUint32(b[sGid:], st.Gid)
	ne.PutUint64(b[sRdev:], st.Rdev)
	ne.PutUint64(b[sSize:], uint64(st.Size))
	ne.PutUint64(b[sBlksize:], uint64(st.Blksize))
	ne.PutUint64(b[sBlocks:], uint64(st.Blocks))
	ne.PutUint64(b[sAtimeSec:], uint64(st.Atime.Sec))
	ne.PutUint64(b[sAtimeNsec:], uint64(st.Atime.Nsec))
	ne.PutUint64(b[sMtimeSec:], uint64(st.Mtime.Sec))
	ne.PutUint64(b[sMtimeNsec:], uint64(st.Mtime.Nsec))
	ne.PutUint64(b[sCtimeSec:], uint64(st.Ctime.Sec))
	ne.PutUint64(b[sCtimeNsec:], uint64(st.Ctime.Nsec))
}

// GetStat decodes a Stat (len(b) >= StatSize).
func GetStat(b []byte) fs.Stat {
	_ = b[StatSize-1]
	return fs.Stat{
		Dev: ne.Uint64(b[sDev:]), Ino: ne.Uint64(b[sIno:]), Mode: ne.Uint32(b[sMode:]),
		Nlink: ne.Uint32(b[sNlink:]), Uid: ne.Uint32(b[sUid:]), Gid: ne.Uint32(b[sGid:]),
		Rdev: ne.Uint64(b[sRdev:]), Size: int64(ne.Uint64(b[sSize:])),
		Blksize: int64(ne.Uint64(b[sBlksize:])), Blocks: int64(ne.Uint64(b[sBlocks:])),
		Atime: fs.Timespec{Sec: int64(ne.Uint64(b[sAtimeSec:])), Nsec: int64(ne.Uint64(b[sAtimeNsec:]))},
		Mtime: fs.Timespec{Sec: int64(ne.Uint64(b[sMtimeSec:])), Nsec: int64(ne.Uint64(b[sMtimeNsec:]))},
		Ctime: fs.Timespec{Sec: int64(ne.Uint64(b[sCtimeSec:])), Nsec: int64(ne.Uint64(b[sCtimeNsec:]))},
	}
}

// PutStatfs encodes st into b (len(b) >= StatfsSize); fields in order.
func PutStatfs(b []byte, st *fs.Statfs) {
	_ = b[StatfsSize-1]
	for i, v := range []uint64{uint64(st.Type), uint64(st.Bsize), st.Blocks, st.Bfree, st.Bavail,
		st.Files, st.Ffree, uint64(st.Namelen), uint64(st.Frsize)} {
		ne.PutUint64(b[i*8:], v)
	}
}

// GetStatfs decodes a Statfs.
func GetStatfs(b []byte) fs.Statfs {
	_ = b[StatfsSize-1]
	g := func(i int) uint64 { return ne.Uint64(b[i*8:]) }
	return fs.Statfs{Type: int64(g(0)), Bsize: int64(g(1)), Blocks: g(2), Bfree: g(3), Bavail: g(4),
		Files: g(5), Ffree: g(6), Namelen: int64(g(7)), Frsize: int64(g(8))}
}

// PutInfo encodes in into b (len(b) >= InfoSize); fields in order.
func PutInfo(b []byte, in *Info) {
	_ = b[InfoSize-1]
	for i, v := range []uint64{in.OpenFiles, in.Clients, in.Instances, in.Served, in.Rejected,
		in.Dropped, in.Threads, in.ForkTokens} {
		ne.PutUint64(b[i*8:], v)
	}
}

// GetInfo decodes an Info.
func GetInfo(b []byte) Info {
	_ = b[InfoSize-1]
	g := func(i int) uint64 { return ne.Uint64(b[i*8:]) }
	return Info{OpenFiles: g(0), Clients: g(1), Instances: g(2), Served: g(3), Rejected: g(4),
		Dropped: g(5), Threads: g(6), ForkTokens: g(7)}
}

// DirentLen is the record length of a name of n bytes (head, name, NUL,
// padding to 8).
func DirentLen(n int) int { return (DirentNameOffset + n + 1 + 7) &^ 7 }

// PutDirent appends one Dirent64 record for d to b[at:], returning the new
// end, or -1 when it does not fit.
func PutDirent(b []byte, at int, d *fs.Dirent, off int64) int {
	rl := DirentLen(len(d.Name))
	if at < 0 || at+rl > len(b) || rl > 0xffff {
		return -1
	}
	r := b[at : at+rl]
	clear(r)
	ne.PutUint64(r[0:], d.Ino)
	ne.PutUint64(r[8:], uint64(off))
	ne.PutUint16(r[16:], uint16(rl))
	r[18] = d.Type
	copy(r[DirentNameOffset:], d.Name)
	return at + rl
}

// ParseDirents decodes a batch of Dirent64 records; a malformed batch is
// an error, never a panic.
func ParseDirents(b []byte) ([]fs.Dirent, error) {
	var out []fs.Dirent
	for len(b) > 0 {
		if len(b) < DirentNameOffset+1 {
			return out, fmt.Errorf("%w: truncated dirent (%d bytes)", ErrBadSegment, len(b))
		}
		rl := int(ne.Uint16(b[16:]))
		if rl < DirentNameOffset+1 || rl > len(b) {
			return out, fmt.Errorf("%w: dirent reclen %d with %d bytes left", ErrBadSegment, rl, len(b))
		}
		name := b[DirentNameOffset:rl]
		n := 0
		for n < len(name) && name[n] != 0 {
			n++
		}
		out = append(out, fs.Dirent{Ino: ne.Uint64(b[0:]), Type: b[18], Name: string(name[:n])})
		b = b[rl:]
	}
	return out, nil
}

// ExecState is the library state carried across exec.
type ExecState struct {
	Uid, Gid uint32
	Cwd      string
	Fds      []ExecFdEntry
}

// ExecFdEntry is one library fd of an ExecState.
type ExecFdEntry struct {
	Fd    int32
	Flags int32
	Sfd   uint64
	Inst  uint32
	Path  string // absolute; "" when not kept
}

// MarshalExec encodes st as an exec blob (ExecHeader, ExecFd records, cwd,
// paths).
func MarshalExec(st *ExecState) ([]byte, error) {
	n := int(ExecHeaderSize) + len(st.Fds)*int(ExecFdSize) + len(st.Cwd)
	for _, f := range st.Fds {
		if len(f.Path) > PathMax {
			return nil, fmt.Errorf("%w: exec state: path of fd %d is %d bytes", ErrBadParams, f.Fd, len(f.Path))
		}
		n += len(f.Path)
	}
	if n > ExecBlobMax {
		return nil, fmt.Errorf("%w: exec state of %d bytes (%d fds) exceeds %d", ErrBadParams, n, len(st.Fds), ExecBlobMax)
	}
	b := make([]byte, n)
	ne.PutUint32(b[0:], ExecVersion)
	ne.PutUint32(b[4:], uint32(len(st.Fds)))
	ne.PutUint32(b[8:], uint32(len(st.Cwd)))
	ne.PutUint32(b[12:], st.Uid)
	ne.PutUint32(b[16:], st.Gid)
	at := int(ExecHeaderSize)
	for _, f := range st.Fds {
		ne.PutUint32(b[at+eFd:], uint32(f.Fd))
		ne.PutUint32(b[at+eFlags:], uint32(f.Flags))
		ne.PutUint64(b[at+eSfd:], f.Sfd)
		ne.PutUint32(b[at+ePathLen:], uint32(len(f.Path)))
		ne.PutUint32(b[at+eInst:], f.Inst)
		at += int(ExecFdSize)
	}
	at += copy(b[at:], st.Cwd)
	for _, f := range st.Fds {
		at += copy(b[at:], f.Path)
	}
	return b, nil
}

// UnmarshalExec decodes an exec blob, checking every count against its size.
func UnmarshalExec(b []byte) (*ExecState, error) {
	if len(b) < int(ExecHeaderSize) {
		return nil, fmt.Errorf("%w: exec blob of %d bytes", ErrBadSegment, len(b))
	}
	if v := ne.Uint32(b[0:]); v != ExecVersion {
		return nil, fmt.Errorf("%w: exec blob version %d", ErrBadSegment, v)
	}
	nfd, ncwd := uint64(ne.Uint32(b[4:])), uint64(ne.Uint32(b[8:]))
	if nfd > ExecBlobMax/ExecFdSize || ExecHeaderSize+nfd*ExecFdSize+ncwd > uint64(len(b)) {
		return nil, fmt.Errorf("%w: exec blob of %d bytes claims %d fds and a cwd of %d", ErrBadSegment, len(b), nfd, ncwd)
	}
	st := &ExecState{Uid: ne.Uint32(b[12:]), Gid: ne.Uint32(b[16:])}
	at := int(ExecHeaderSize)
	paths := ExecHeaderSize + nfd*ExecFdSize + ncwd
	for i := uint64(0); i < nfd; i++ {
		pl := uint64(ne.Uint32(b[at+ePathLen:]))
		if pl > PathMax || paths+pl > uint64(len(b)) {
			return nil, fmt.Errorf("%w: exec blob of %d bytes: fd record %d claims a path of %d bytes at %d", ErrBadSegment, len(b), i, pl, paths)
		}
		st.Fds = append(st.Fds, ExecFdEntry{Fd: int32(ne.Uint32(b[at+eFd:])), Flags: int32(ne.Uint32(b[at+eFlags:])),
			Sfd: ne.Uint64(b[at+eSfd:]), Inst: ne.Uint32(b[at+eInst:]), Path: string(b[paths : paths+pl])})
		paths += pl
		at += int(ExecFdSize)
	}
	if paths != uint64(len(b)) {
		return nil, fmt.Errorf("%w: exec blob of %d bytes has %d bytes after its paths", ErrBadSegment, len(b), uint64(len(b))-paths)
	}
	st.Cwd = string(b[at : at+int(ncwd)])
	return st, nil
}

// PutLockInfo encodes li into b (len(b) >= LockInfoSize).
func PutLockInfo(b []byte, li *LockInfo) {
	_ = b[LockInfoSize-1]
	ne.PutUint64(b[0:], uint64(li.Type))
	ne.PutUint64(b[8:], uint64(li.Pid))
	ne.PutUint64(b[16:], uint64(li.Start))
	ne.PutUint64(b[24:], uint64(li.Len))
}

// GetLockInfo decodes a LockInfo (len(b) >= LockInfoSize).
func GetLockInfo(b []byte) LockInfo {
	_ = b[LockInfoSize-1]
	return LockInfo{Type: int64(ne.Uint64(b[0:])), Pid: int64(ne.Uint64(b[8:])),
		Start: int64(ne.Uint64(b[16:])), Len: int64(ne.Uint64(b[24:]))}
}
