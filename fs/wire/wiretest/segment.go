package wiretest

import (
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// Segment formats, in ordinary memory, the segment the service's tests
// run on: nq queues of the rcqb design with cfg (queue i serving CPU i),
// nbuf buffers of 4 KiB, one mount and one client.
func Segment(cfg queue.Config, nq, nbuf int) (*wire.Seg, queue.Design, error) {
	d, err := queue.Lookup("rcqb")
	if err != nil {
		return nil, queue.Design{}, err
	}
	ofCPU := make([]uint8, nq)
	for i := range ofCPU {
		ofCPU[i] = uint8(i)
	}
	l, err := wire.NewLayout(wire.Params{QueueDesign: "rcqb", QueueWait: uint32(cfg.Wait), QueueCapacity: uint32(cfg.Capacity),
		QueueBytes: uint64(d.Size(cfg)), NumQueues: uint32(nq), NumMounts: 1, NumClients: 1, NumBuffers: uint32(nbuf),
		DataSize: 4096, QueueOfCPU: ofCPU})
	if err != nil {
		return nil, queue.Design{}, err
	}
	w, err := wire.Format(make([]byte, l.SegmentSize), l, 1)
	return w, d, err
}
