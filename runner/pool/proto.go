package pool

import (
	"encoding/json"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// The runner and a pool engine talk over a SOCK_SEQPACKET socket pair: one
// JSON message per packet, file descriptors attached with SCM_RIGHTS.
//
//	runner -> engine: init{Hostname, Namespaces}   engine -> runner: ready{Err}
//	runner -> engine: spawn{ID, Path, Args, Env, Dir} + fds [stdin stdout stderr extra...]
//	engine -> runner: spawned{ID, PoolPid, Err} + fd [pidfd]
//	runner -> engine: ack{PoolPid}                 (host pid read from the pidfd)
//	engine -> runner: exit{PoolPid, Status}        (for every process it spawned)
//
// The engine sends "spawned" before it can reap that child, so the runner
// always learns of a process before its exit, and it reaps nothing while a
// spawned pid is unacknowledged: the pidfd's fdinfo shows the host pid only
// until the process is reaped.

const (
	envEngine    = "POLYTROPON_POOL_ENGINE" // set (to the pool name) in an engine's environment
	engineSockFd = 3                        // the engine's end of the socket pair
	maxMessage   = 1 << 20                  // command lines and environments fit
	maxFds       = 64
)

type message struct {
	Op string `json:"op"`

	// init
	Hostname   string `json:"hostname,omitempty"`
	Namespaces bool   `json:"namespaces,omitempty"`

	// spawn
	ID   uint64   `json:"id,omitempty"`
	Path string   `json:"path,omitempty"`
	Args []string `json:"args,omitempty"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`

	// spawned, exit
	PoolPid int                `json:"pool_pid,omitempty"`
	Status  syscall.WaitStatus `json:"status,omitempty"`

	Err string `json:"err,omitempty"`
}

func sendMessage(fd int, m *message, fds []int) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(b) > maxMessage {
		return fmt.Errorf("%w: %s request of %d bytes is too large", ErrInvalidSpec, m.Op, len(b))
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	for {
		err = unix.Sendmsg(fd, b, oob, nil, unix.MSG_NOSIGNAL)
		if err != unix.EINTR {
			return err
		}
	}
}

// recvMessage reads one message; received fds are close-on-exec. io.EOF
// style end of stream is reported as os.ErrClosed.
func recvMessage(fd int, buf, oob []byte) (*message, []int, error) {
	var n, oobn, flags int
	var err error
	for {
		n, oobn, flags, _, err = unix.Recvmsg(fd, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return nil, nil, err
	}
	var fds []int
	if oobn > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err != nil {
			return nil, nil, err
		}
		for _, c := range cmsgs {
			got, err := unix.ParseUnixRights(&c)
			if err == nil {
				fds = append(fds, got...)
			}
		}
	}
	if n == 0 && oobn == 0 {
		return nil, nil, os.ErrClosed
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(fds)
		return nil, nil, fmt.Errorf("pool: truncated message (%d bytes)", n)
	}
	var m message
	if err := json.Unmarshal(buf[:n], &m); err != nil {
		closeAll(fds)
		return nil, nil, fmt.Errorf("pool: bad message: %w", err)
	}
	return &m, fds, nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
