// Package wire defines, once, the shared-memory protocol between the
// filesystem service of a pool (back driver, package fs/back and fs/service)
// and its clients (front driver, package fs/front, used by the Go client
// fs/client and, through the generated C header fs/preload/polytropon_wire.h,
// by the preload library).
//
// # Segment
//
// One System V segment per pool, under the key SegmentKey(pool), private to
// the pool's IPC namespace. Everything in it is addressed by byte offsets
// from the segment start, never by pointers:
//
//	Header        offset 0: magic, version, layout offsets and counts, the
//	              service pid, a liveness heartbeat, the queue design and
//	              wait strategy, the CPU -> queue map
//	Queues        NumQueues x QueueStride: a QueueStats cache line, then the
//	              memory of one request queue of the Shared design named in
//	              the header (items = request-buffer indices); one queue per
//	              core group
//	Mount table   NumMounts x MountEntry (path -> service, instance, flags),
//	              written only by the service under the MountGen seqlock
//	Client table  NumClients x ClientSlot (pid, state, exec-state blob),
//	              written only by the service
//	Buffers       NumBuffers x BufferStride: a Desc (request descriptor) at
//	              +0, the data area at +DataAreaOffset (page aligned)
//
// # A request (steps 1-8 of the papers)
//
// A client thread owns a buffer for the duration of a call (claimed from the
// shared free list by CAS on Desc.Owner 0 -> pid). Between calls its process
// keeps the buffer parked (Owner -pid) and takes it back by CAS -pid -> pid;
// a process that finds no free buffer takes over a parked one (-p -> pid),
// so idle processes never hold the pool's buffers. It writes paths and data
// into the data area, fills the descriptor (Call, Instance, Args, the
// Path/Path2/Data/Out offset+length pairs relative to the data area), clears
// the completion line (Done = Waiter = 0), stores State = StateSubmitted and
// enqueues the buffer index on the queue of its core group. It then spins on
// Done and, past its spin budget, sets Waiter = 1 and sleeps on the Done
// futex word. A service thread dequeues the index and takes the buffer by a
// CAS of State from StateSubmitted to StateBusy: a stale, duplicate or forged
// item fails the CAS and is dropped. It validates everything, serves the
// call, writes Ret (>= 0, or -errno) and the output into the Out range,
// stores Done = 1 and calls futex wake only if Waiter is set. The client
// reads Ret and the output and sets State back to StateIdle.
//
// The completion (Done, Waiter, Ret) has a cache line of its own: the
// client polls it while the service's CAS writes the State line, so the
// two never contend for one line.
//
// Nothing on the request path is a counter shared by both sides: the back
// driver reads a queue's backlog from the queue itself, off the path.
//
// # Trust
//
// The service never trusts the segment: every index, offset, length, call id
// and service fd read from it is validated (see Desc and the Validate
// helpers). Clients of one pool belong to one tenant; the segment is the
// tenant's own memory, so a broken or malicious client can only hurt itself
// and its own tenant's requests, never the service or another pool.
package wire
