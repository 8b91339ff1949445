package ipcbench

import (
	"bytes"
	"fmt"
	"sync/atomic"

	xcopy "polytropon/ipc/copy"
)

// A staged copy across two processes uses one System V segment: a control
// page (word 0: ping-pong sequence, word 8: transfer length) followed by
// the staging buffer. The front driver (this process) copies its source
// into the staging buffer and rings; the back driver (the peer) copies the
// staging buffer into its own buffer and answers.
const stageHeader = 4096

// serveStage is the peer side: ready line "ready pid=P addr=A" with A the
// address of its target buffer (so the parent can check it with CMA).
func serveStage(cfg PeerConfig, mem []byte, stop *atomic.Bool, stdout interface{ Write([]byte) (int, error) }) error {
	spec, err := xcopy.Lookup(cfg.Method)
	if err != nil || spec.Stage == nil {
		return fmt.Errorf("bench: peer: method %q has no stage routine (%v)", cfg.Method, err)
	}
	if cfg.Size <= 0 || stageHeader+cfg.Size > len(mem) {
		return fmt.Errorf("bench: peer: stage size %d does not fit a %d-byte segment", cfg.Size, len(mem))
	}
	seq, err := wordAt(mem, 0)
	if err != nil {
		return err
	}
	length, err := wordAt(mem, 8)
	if err != nil {
		return err
	}
	staging := mem[stageHeader : stageHeader+cfg.Size]
	dst := alignedBytes(cfg.Size, 4096)
	fmt.Fprintf(stdout, "ready pid=%d addr=%#x\n", pidSelf(), xcopy.Addr(dst))
	return servePingPong(seq, stop, func() error {
		n := length.Load() // from shared memory: checked, never trusted
		if n > uint64(cfg.Size) {
			return fmt.Errorf("bench: peer: transfer of %d bytes exceeds the %d-byte buffer", n, cfg.Size)
		}
		spec.Stage(dst[:n], staging[:n])
		return nil
	})
}

// stagedXProc is the front side of a staged copy into a peer process.
type stagedXProc struct {
	peer    *peerProc
	seg     []byte
	seq     *atomic.Uint64
	length  *atomic.Uint64
	staging []byte
	stage   func(dst, src []byte) int
	v       uint64
}

func startStaged(method string, maxSize int, cfg CopyConfig, theirs int) (*stagedXProc, func() error, error) {
	spec, err := xcopy.Lookup(method)
	if err != nil {
		return nil, nil, fmt.Errorf("bench: %w", err)
	}
	seg, err := newSegment(stageHeader + maxSize)
	if err != nil {
		return nil, nil, err
	}
	s := &stagedXProc{seg: seg.Bytes(), stage: spec.Stage, staging: seg.Bytes()[stageHeader:]}
	if s.seq, err = wordAt(s.seg, 0); err == nil {
		s.length, err = wordAt(s.seg, 8)
	}
	if err != nil {
		seg.Detach()
		return nil, nil, err
	}
	s.peer, err = startPeer(cfg.Launcher, PeerConfig{Mode: ModeStage, ShmID: seg.ID(), Size: maxSize, Method: method, CPU: theirs})
	if err != nil {
		seg.Detach()
		return nil, nil, err
	}
	stop := func() error {
		s.seq.Store(pingStop)
		err := s.peer.stop()
		seg.Detach()
		return err
	}
	return s, stop, nil
}

// transfer moves src to the peer's buffer: front copy, ring, wait for the
// back copy.
func (s *stagedXProc) transfer(src []byte) error {
	s.stage(s.staging[:len(src)], src)
	s.length.Store(uint64(len(src)))
	s.v++
	s.seq.Store(2*s.v - 1)
	start := now()
	for spins := 0; s.seq.Load() != 2*s.v; spins++ {
		if spins&0xffff == 0xffff && now()-start > int64(replyTimeout) {
			return ErrNoReply
		}
	}
	return nil
}

// verify reads the peer's buffer back with CMA and compares it with src.
func (s *stagedXProc) verify(src []byte) error {
	got := make([]byte, len(src))
	if _, err := xcopy.ReadFrom(s.peer.pid, got, s.peer.addr); err != nil {
		return err
	}
	if !bytes.Equal(got, src) {
		return fmt.Errorf("peer's buffer differs from the source")
	}
	return nil
}
