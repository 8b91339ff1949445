package wire

import "fmt"

// Call ids (Desc.Call). The comment of each gives its arguments: Path and
// Path2 are the descriptor's path ranges (not NUL-terminated, at most
// PathMax bytes, no NUL inside), Data the input range, Out the output range;
// "sfd" is a service fd in Args[0]. Path calls resolve Path inside
// Desc.Instance (cleaned lexically, confined to the instance root). Ret is
// the result or -errno.
const (
	CallNull        = 0  // no-op round trip; Ret 0
	CallRegister    = 1  // Args[0] fork token or 0; Ret client slot index
	CallUnregister  = 2  // drop every reference of the client; Ret 0
	CallOpen        = 3  // Path; Args[0] open flags, Args[1] mode; Ret sfd
	CallClose       = 4  // sfd; the client's reference --
	CallDup         = 5  // sfd; the client's reference ++ (same open file, shared offset)
	CallRead        = 6  // sfd, Args[1] len[, Args[3] CMA addr]; at the file offset, advances it; Ret bytes (Out)
	CallWrite       = 7  // sfd, Data (or Args[1] len + Args[3] CMA addr); at the file offset (O_APPEND: end); Ret bytes
	CallPread       = 8  // sfd, Args[1] len, Args[2] offset[, Args[3] CMA addr]; Ret bytes (Out)
	CallPwrite      = 9  // sfd, Data (or Args[1] len + Args[3] CMA addr), Args[2] offset; Ret bytes
	CallLseek       = 10 // sfd, Args[1] offset (int64), Args[2] whence (SEEK_SET/CUR/END); Ret new offset
	CallFstat       = 11 // sfd; Out Stat
	CallFtruncate   = 12 // sfd, Args[1] size
	CallFsync       = 13 // sfd, Args[1] 1 = fdatasync
	CallFchmod      = 14 // sfd, Args[1] mode
	CallFchown      = 15 // sfd, Args[1] uid (int32, -1 keeps), Args[2] gid
	CallFutimens    = 16 // sfd, Args[1..4] atime sec, nsec, mtime sec, nsec
	CallFstatfs     = 17 // sfd; Out Statfs
	CallFallocate   = 18 // sfd, Args[1] mode, Args[2] offset, Args[3] length
	CallGetdents    = 19 // sfd of a directory, Args[1] GetdentsDots or 0; Out packed Dirent64 records; Ret bytes (0 = end)
	CallStat        = 20 // Path; Out Stat
	CallLstat       = 21 // Path; Out Stat
	CallMkdir       = 22 // Path, Args[0] mode
	CallRmdir       = 23 // Path
	CallUnlink      = 24 // Path
	CallRename      = 25 // Path -> Path2 (same instance, else EXDEV), Args[0] renameat2 flags
	CallSymlink     = 26 // Path2 = target (stored verbatim), Path = link name
	CallReadlink    = 27 // Path; Out target; Ret length
	CallLink        = 28 // Path -> Path2 (same instance)
	CallChmod       = 29 // Path, Args[0] mode
	CallChown       = 30 // Path, Args[0] uid, Args[1] gid, Args[2] flags (AT_SYMLINK_NOFOLLOW)
	CallUtimens     = 31 // Path, Args[0..3] atime sec, nsec, mtime sec, nsec, Args[4] flags
	CallTruncate    = 32 // Path, Args[0] size
	CallAccess      = 33 // Path, Args[0] mode
	CallStatfs      = 34 // Path; Out Statfs
	CallGetxattr    = 35 // Path, Path2 = attribute name, Args[0] size (0: query); Out value; Ret length
	CallSetxattr    = 36 // Path, Path2 = attribute name, Data value, Args[0] flags
	CallListxattr   = 37 // Path, Args[0] size (0: query); Out NUL-separated names; Ret length
	CallRemovexattr = 38 // Path, Path2 = attribute name
	CallFork        = 39 // Args[0] ForkPrepare: Ret token; ForkCommit: Args[1] token, Args[2] child pid; ForkAbort: Args[1] token
	CallExecSave    = 40 // Data = exec blob (ExecHeader ...): kept in the client slot for the same pid
	CallExecRestore = 41 // Out = exec blob saved by this pid; Ret length (after REGISTER of the new image)
	CallMount       = 42 // Path = mount path, Path2 = fs type, Data = options "k=v,k=v", Args[0] MountShared; Ret instance id
	CallUmount      = 43 // Path = mount path
	CallInfo        = 44 // Out Info
	CallLock        = 45 // sfd, Args[1] LockGet/LockSet, Args[2] LockPOSIX/OFD/Flock, Args[3] F_RDLCK/F_WRLCK/F_UNLCK, Args[4] start, Args[5] length (0: to the end); LockGet: Out LockInfo
	NumCalls        = 46
)

// CallLock operations (Args[1]) and lock kinds (Args[2]). A set never
// blocks in the service: a conflicting lock answers EAGAIN and a client
// that wants to wait (F_SETLKW, flock without LOCK_NB) retries.
const (
	LockGet = 0 // report the first lock that conflicts (F_GETLK)
	LockSet = 1 // take, change or release the range (F_SETLK, flock)

	LockPOSIX = 0 // owned by the calling process, dropped when it closes any fd of the file
	LockOFD   = 1 // owned by the open file (F_OFD_SETLK), dropped at its last close
	LockFlock = 2 // flock(2): whole file, owned by the open file, a namespace of its own
)

// LockInfo is the Out of a LockGet: the conflicting lock, or Type =
// F_UNLCK when there is none. Pid is -1 for a lock owned by an open file.
type LockInfo struct {
	Type  int64
	Pid   int64
	Start int64
	Len   int64 // 0: to the end of the file
}

// CallFork phases (Args[0]).
const (
	ForkPrepare = 0
	ForkCommit  = 1
	ForkAbort   = 2
)

// GetdentsDots (CallGetdents Args[1]) asks for "." and ".." first, as
// getdents64(2) lists them; the libservice API (and the Go client) lists
// neither.
const GetdentsDots = 1

// Argument indices shared by data calls.
const (
	LenArg  = 1 // Args[LenArg]: byte count of READ/WRITE/PREAD/PWRITE
	OffArg  = 2 // Args[OffArg]: file offset of PREAD/PWRITE
	AddrArg = 3 // Args[AddrArg]: client address with FlagCMA
)

var callNames = [NumCalls]string{
	"null", "register", "unregister", "open", "close", "dup", "read", "write",
	"pread", "pwrite", "lseek", "fstat", "ftruncate", "fsync", "fchmod",
	"fchown", "futimens", "fstatfs", "fallocate", "getdents", "stat", "lstat",
	"mkdir", "rmdir", "unlink", "rename", "symlink", "readlink", "link",
	"chmod", "chown", "utimens", "truncate", "access", "statfs", "getxattr",
	"setxattr", "listxattr", "removexattr", "fork", "exec_save",
	"exec_restore", "mount", "umount", "info", "lock",
}

// CallName names a call id for messages.
func CallName(c uint32) string {
	if c < NumCalls {
		return callNames[c]
	}
	return fmt.Sprintf("call(%d)", c)
}

// Service fds: index of the service open file in the low 32 bits, its
// generation in the high 31 bits (so an sfd is a positive int64 and a stale
// or forged one is rejected).

// MakeSfd builds a service fd.
func MakeSfd(index, gen uint32) uint64 { return uint64(gen&0x7fffffff)<<32 | uint64(index) }

// SplitSfd is the inverse of MakeSfd.
func SplitSfd(sfd uint64) (index, gen uint32) { return uint32(sfd), uint32(sfd >> 32) }
