package ipcbench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"polytropon/ipc/queue"
)

// RunRoundTrip measures request/response round trips through two queues
// (request, response) of every Shared design and wait strategy, with the
// server as another thread and as a real second process attached to the
// same System V segment.
func RunRoundTrip(ctx context.Context, cfg RTTConfig) ([]RTTPoint, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	var designs []queue.Design
	if len(cfg.Designs) == 0 {
		for _, d := range queue.Designs() {
			if d.Shared {
				designs = append(designs, d)
			}
		}
	} else {
		for _, n := range cfg.Designs {
			d, err := queue.Lookup(n)
			if err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			if !d.Shared {
				return nil, fmt.Errorf("bench: design %s cannot live in shared memory", n)
			}
			designs = append(designs, d)
		}
	}
	if len(designs) == 0 {
		return nil, errors.New("bench: no Shared queue design registered")
	}
	defer raiseProcs(3)()
	waits := []queue.Wait{queue.Spin, queue.SpinFutex, queue.Futex}
	if len(cfg.Waits) > 0 {
		waits = waits[:0]
		for _, s := range cfg.Waits {
			w, err := queue.ParseWait(s)
			if err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
			waits = append(waits, w)
		}
	}
	var out []RTTPoint
	for _, d := range designs {
		for _, w := range waits {
			for _, peer := range cfg.Peers {
				if err := ctx.Err(); err != nil {
					return out, err
				}
				h, err := roundTripPoint(d, w, peer, cfg)
				if err != nil {
					err = fmt.Errorf("%s/%v/%s: %w", d.Name, w, peer, err)
				}
				out = append(out, newRTTPoint(d.Name, w.String(), peer, h, err))
			}
		}
	}
	return out, nil
}

func roundTripPoint(d queue.Design, w queue.Wait, peer string, cfg RTTConfig) (*Latencies, error) {
	qc := queue.Config{Capacity: cfg.Capacity, Wait: w, SpinBudget: cfg.SpinBudget, Timeout: replyTimeout}
	size := d.Size(qc)
	if size <= 0 {
		return nil, fmt.Errorf("bench: Shared design %s reports size %d", d.Name, size)
	}
	stride := (size + 4095) &^ 4095
	seg, err := newSegment(2 * stride)
	if err != nil {
		return nil, err
	}
	defer seg.Detach()
	req, resp, err := attachPair(d, seg.Bytes(), 0, stride, qc, true)
	if err != nil {
		return nil, err
	}
	mine, theirs := cfg.cpuPair()
	var stopServer func() error
	if peer == PeerProcess {
		p, err := startPeer(cfg.Launcher, PeerConfig{
			Mode: ModeQueue, ShmID: seg.ID(), Design: d.Name, Wait: w.String(),
			Capacity: cfg.Capacity, SpinBudget: cfg.SpinBudget, ReqOff: 0, RespOff: stride, CPU: theirs,
		})
		if err != nil {
			return nil, err
		}
		stopServer = p.stop
	} else {
		var stop atomic.Bool
		served := make(chan error, 1)
		go func() {
			if err := pinTo(theirs); err != nil {
				served <- err
				return
			}
			served <- serveQueue(req, resp, &stop)
		}()
		stopServer = func() error { stop.Store(true); return <-served }
	}
	res := make(chan measured, 1)
	go func() {
		h, err := roundTripClient(req, resp, cfg, mine)
		res <- measured{h, err}
	}()
	m := <-res
	req.Close() // ends the server's loop
	resp.Close()
	return m.h, errors.Join(m.err, stopServer())
}

// roundTripClient sends sequence numbers and checks that each reply is the
// value just sent.
func roundTripClient(req, resp queue.Queue, cfg RTTConfig, cpu int) (*Latencies, error) {
	if err := pinTo(cpu); err != nil {
		return nil, err
	}
	h := newLatencies(1 << 16)
	total := int64(cfg.Warmup) + cfg.MaxTrips
	var deadline int64
	for i := int64(0); i < total; i++ {
		if i == int64(cfg.Warmup) {
			deadline = now() + int64(cfg.Duration)
		}
		a := now()
		if err := req.Enqueue(uint64(i)); err != nil {
			return nil, fmt.Errorf("request %d: %w", i, err)
		}
		v, err := resp.Dequeue()
		b := now()
		if err != nil {
			return nil, fmt.Errorf("response %d: %w", i, err)
		}
		if v != uint64(i) {
			return nil, fmt.Errorf("response %d carries %d", i, v)
		}
		if i >= int64(cfg.Warmup) {
			h.Record(time.Duration(b - a))
			if b > deadline {
				break
			}
		}
	}
	return h, nil
}

// anyShared reports whether some registered design is Shared.
func anyShared() bool {
	for _, d := range queue.Designs() {
		if d.Shared {
			return true
		}
	}
	return false
}
