package shm

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// maxSegment bounds Create's size argument (SHMMAX on Linux is far larger,
// but nothing in Polytropon needs more than this).
const maxSegment = 1 << 40

// Segment is one attached System V shared-memory segment.
type Segment struct {
	key, id int
	mem     []byte
}

// Create makes a new segment of size bytes under key, readable and writable
// by the owner only (mode 0600), and attaches it. It fails (wrapping EEXIST,
// so errors.Is(err, fs.ErrExist) holds) when the key is taken in this IPC
// namespace. The memory starts zeroed.
func Create(key int, size int) (*Segment, error) {
	if size <= 0 || size > maxSegment {
		return nil, fmt.Errorf("%w: create key %#x with size %d", ErrBadSize, key, size)
	}
	id, err := unix.SysvShmGet(key, size, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	if err != nil {
		return nil, fmt.Errorf("shm: create key %#x size %d: %w", key, size, err)
	}
	s, err := attach(key, id)
	if err != nil {
		unix.SysvShmCtl(id, unix.IPC_RMID, nil)
		return nil, err
	}
	return s, nil
}

// Open attaches the existing segment under key. It fails (wrapping ENOENT,
// so errors.Is(err, fs.ErrNotExist) holds) when no such segment exists in
// this process's IPC namespace.
func Open(key int) (*Segment, error) {
	id, err := unix.SysvShmGet(key, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: open key %#x: %w", key, err)
	}
	return attach(key, id)
}

// Attach attaches the segment with identifier id (as reported by ID in the
// creating process); it suits segments created without a well-known key.
func Attach(id int) (*Segment, error) {
	return attach(0, id)
}

// AttachReadOnly attaches segment id for reading only (SHM_RDONLY): for
// tools that inspect a segment they must not change.
func AttachReadOnly(id int) (*Segment, error) {
	mem, err := unix.SysvShmAttach(id, 0, unix.SHM_RDONLY)
	if err != nil {
		return nil, fmt.Errorf("shm: attach id %d read-only: %w", id, err)
	}
	return &Segment{id: id, mem: mem}, nil
}

func attach(key, id int) (*Segment, error) {
	mem, err := unix.SysvShmAttach(id, 0, 0)
	if err != nil {
		return nil, fmt.Errorf("shm: attach id %d (key %#x): %w", id, key, err)
	}
	return &Segment{key: key, id: id, mem: mem}, nil
}

// Bytes returns the attached memory; it is invalid after Detach.
func (s *Segment) Bytes() []byte { return s.mem }

// Region returns a bounds-checked view of the whole segment.
func (s *Segment) Region() Region { return NewRegion(s.mem) }

// ID returns the kernel's segment identifier.
func (s *Segment) ID() int { return s.id }

// Key returns the key the segment was created or opened with (0 after Attach).
func (s *Segment) Key() int { return s.key }

// Detach unmaps the segment from this process. Detaching twice is a no-op.
func (s *Segment) Detach() error {
	if s.mem == nil {
		return nil
	}
	err := unix.SysvShmDetach(s.mem)
	s.mem = nil
	if err != nil {
		return fmt.Errorf("shm: detach id %d: %w", s.id, err)
	}
	return nil
}

// Remove marks the segment for destruction (IPC_RMID): the key is freed at
// once and the memory goes away when the last process detaches.
func (s *Segment) Remove() error {
	if _, err := unix.SysvShmCtl(s.id, unix.IPC_RMID, nil); err != nil {
		return fmt.Errorf("shm: remove id %d: %w", s.id, err)
	}
	return nil
}
