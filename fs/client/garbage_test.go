package client_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/fs/front"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
)

// buffersOwnedBy counts the request buffers of the segment held or parked
// by pid.
func buffersOwnedBy(t *testing.T, key, pid int) int {
	t.Helper()
	w := openSeg(t, key)
	n := 0
	for i := uint32(0); i < w.Layout.NumBuffers; i++ {
		if b, err := w.Buffer(i); err == nil && (b.Owner() == pid || b.Owner() == -pid) {
			n++
		}
	}
	return n
}

// TestGarbageDescriptors writes invalid requests straight into request
// buffers and invalid items straight into the queue: every request with a
// valid buffer gets an errno back, bad items are dropped, and the service
// keeps serving.
func TestGarbageDescriptors(t *testing.T) {
	sp := startService(t, svcOpts{})
	c := sp.dial(t, client.Options{})
	mp, dir := mountLocal(t, sp, c)
	inst, _, err := c.Resolve(mp)
	if err != nil {
		t.Fatal(err)
	}
	// A secret next to the instance root, and a file inside it.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "secret"), []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inside"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, _ := c.FS(mp)
	// A file opened by another client (same process, other slot): its sfd
	// is valid but not ours.
	c2 := sp.dial(t, client.Options{})
	v2, _ := c2.FS(mp)
	other, err := v2.Open(context.Background(), "inside", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	otherSfd := other.(*client.File).Sfd()
	// A file we opened and closed: a stale sfd.
	f, _ := v.Open(context.Background(), "inside", syscall.O_RDONLY, 0)
	staleSfd := f.(*client.File).Sfd()
	f.Close()
	before, _ := c.Info()

	raw, err := front.Attach(sp.Key, front.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	b, err := raw.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Put(b)
	put := func(off uint32, s string) wire.Range {
		p, err := b.Data.Slice(uint64(off), uint64(len(s)))
		if err != nil {
			t.Fatal(err)
		}
		copy(p, s)
		return wire.Range{Off: off, Len: uint32(len(s))}
	}
	size := uint32(b.Data.Len())
	cases := []struct {
		name string
		req  func() wire.Request // builds the request (writes its data)
		want syscall.Errno
	}{
		{"unknown call", func() wire.Request { return wire.Request{Call: 999} }, syscall.EINVAL},
		{"unknown flags", func() wire.Request { return wire.Request{Call: wire.CallStat, Flags: 0x80} }, syscall.EINVAL},
		{"client slot out of range", func() wire.Request { return wire.Request{Call: wire.CallStat, Client: 1 << 20} }, syscall.EBADSLT},
		{"unused client slot", func() wire.Request { return wire.Request{Call: wire.CallStat, Client: 200} }, syscall.EBADSLT},
		{"unknown instance", func() wire.Request { return wire.Request{Call: wire.CallMkdir, Instance: 99999, Path: put(0, "x")} }, syscall.ENODEV},
		{"path past the data area", func() wire.Request {
			return wire.Request{Call: wire.CallMkdir, Path: wire.Range{Off: size - 2, Len: 10}}
		}, syscall.EINVAL},
		{"path range wraps", func() wire.Request {
			return wire.Request{Call: wire.CallMkdir, Path: wire.Range{Off: 0xfffffff0, Len: 0x20}}
		}, syscall.EINVAL},
		{"path with NUL", func() wire.Request { return wire.Request{Call: wire.CallMkdir, Path: put(0, "a\x00b")} }, syscall.EINVAL},
		{"path too long", func() wire.Request {
			return wire.Request{Call: wire.CallMkdir, Path: wire.Range{Off: 0, Len: wire.PathMax + 1}}
		}, syscall.ENAMETOOLONG},
		{"stat output too small", func() wire.Request {
			return wire.Request{Call: wire.CallStat, Path: put(0, "inside"), Out: wire.Range{Off: 64, Len: 10}}
		}, syscall.EINVAL},
		{"escaping path is confined", func() wire.Request { return wire.Request{Call: wire.CallOpen, Path: put(0, "../../../secret")} }, syscall.ENOENT},
		{"escaping rename target is confined", func() wire.Request {
			return wire.Request{Call: wire.CallRename, Path: put(0, "inside"), Path2: put(64, "../../x/y")}
		}, syscall.ENOENT},
		{"rename target out of bounds", func() wire.Request {
			return wire.Request{Call: wire.CallRename, Path: put(0, "inside"), Path2: wire.Range{Off: size, Len: 1}}
		}, syscall.EINVAL},
		{"forged sfd", func() wire.Request {
			return wire.Request{Call: wire.CallPread, Args: [wire.NumArgs]uint64{rand.Uint64() >> 1, 4}, Out: wire.Range{Off: 0, Len: 4}}
		}, syscall.EBADF},
		{"negative sfd", func() wire.Request {
			return wire.Request{Call: wire.CallFstat, Args: [wire.NumArgs]uint64{1 << 63}, Out: wire.Range{Off: 0, Len: 200}}
		}, syscall.EBADF},
		{"stale sfd", func() wire.Request {
			return wire.Request{Call: wire.CallPread, Args: [wire.NumArgs]uint64{staleSfd, 4}, Out: wire.Range{Off: 0, Len: 4}}
		}, syscall.EBADF},
		{"another client's sfd", func() wire.Request {
			return wire.Request{Call: wire.CallPread, Args: [wire.NumArgs]uint64{otherSfd, 4}, Out: wire.Range{Off: 0, Len: 4}}
		}, syscall.EBADF},
		{"close another client's sfd", func() wire.Request { return wire.Request{Call: wire.CallClose, Args: [wire.NumArgs]uint64{otherSfd}} }, syscall.EBADF},
		{"exec blob garbage", func() wire.Request {
			return wire.Request{Call: wire.CallExecSave, Data: put(0, "garbage garbage garbage garbage")}
		}, syscall.EINVAL},
		{"mount outside mount_dirs", func() wire.Request {
			return wire.Request{Call: wire.CallMount, Path: put(0, "/evil"), Path2: put(64, "local"), Data: put(128, "dir=/etc")}
		}, syscall.EACCES},
		{"mount of an unknown type", func() wire.Request {
			return wire.Request{Call: wire.CallMount, Path: put(0, "/evil"), Path2: put(64, "nfs"), Data: put(128, "")}
		}, syscall.ENODEV},
	}
	for _, tc := range cases {
		req := tc.req()
		if req.Client == 0 {
			req.Client = c.Slot()
		}
		if req.Instance == 0 {
			req.Instance = inst
		}
		ret, err := raw.Call(b, 0, &req)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if ret != -int64(tc.want) {
			t.Errorf("%s: ret %d, want -%d (%v)", tc.name, ret, int64(tc.want), tc.want)
		}
	}
	// A valid sfd with a read length beyond its output range, and CMA
	// without an address.
	f, _ = v.Open(context.Background(), "inside", syscall.O_RDONLY, 0)
	defer f.Close()
	sfd := f.(*client.File).Sfd()
	for name, req := range map[string]wire.Request{
		"read longer than the output": {Call: wire.CallPread, Args: [wire.NumArgs]uint64{sfd, 100}, Out: wire.Range{Off: 0, Len: 10}},
		"CMA without an address":      {Call: wire.CallPread, Flags: wire.FlagCMA, Args: [wire.NumArgs]uint64{sfd, 100}},
		"CMA too long":                {Call: wire.CallPread, Flags: wire.FlagCMA, Args: [wire.NumArgs]uint64{sfd, 1 << 40, 0, 4096}},
	} {
		req.Client, req.Instance = c.Slot(), inst
		if ret, err := raw.Call(b, 0, &req); err != nil || ret != -int64(syscall.EINVAL) {
			t.Errorf("%s: ret %d err %v, want -EINVAL", name, ret, err)
		}
	}
	// Random bytes all over the descriptor (state and owner kept so the
	// request is taken): the service answers something and lives on.
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		var req wire.Request
		req.Call = uint32(rng.IntN(wire.NumCalls + 3))
		req.Flags = uint32(rng.IntN(3))
		req.Client = c.Slot()
		req.Instance = inst
		if rng.IntN(4) == 0 {
			req.Client = rng.Uint32()
		}
		for j := range req.Args {
			req.Args[j] = rng.Uint64()
		}
		for _, r := range []*wire.Range{&req.Path, &req.Path2, &req.Data, &req.Out} {
			*r = wire.Range{Off: rng.Uint32() % (size + 100), Len: rng.Uint32() % (size + 100)}
		}
		if req.Call == wire.CallUnregister || req.Call == wire.CallRegister {
			continue // valid requests that would change our registration
		}
		if req.Call == wire.CallFork || req.Call == wire.CallMount || req.Call == wire.CallUmount {
			continue
		}
		if _, err := raw.Call(b, 0, &req); err != nil {
			t.Fatalf("random descriptor %d (%s): %v", i, wire.CallName(req.Call), err)
		}
	}
	// Bad queue items: no such buffer, and a buffer that is not submitted.
	l := raw.W.Layout
	d, err := queue.Lookup(l.QueueDesign)
	if err != nil {
		t.Fatal(err)
	}
	mem, _, err := raw.W.QueueMem(0)
	if err != nil {
		t.Fatal(err)
	}
	q, err := d.New(mem, queue.Config{Capacity: int(l.QueueCapacity), Wait: queue.Wait(l.QueueWait), Timeout: time.Second}, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, item := range []uint64{1 << 40, uint64(l.NumBuffers), uint64(b.Index), ^uint64(0) >> 1} {
		if err := q.Enqueue(item); err != nil {
			t.Fatalf("enqueue %#x: %v", item, err)
		}
	}
	if !waitFor(3*time.Second, func() bool { in, _ := c.Info(); return in.Dropped >= before.Dropped+4 }) {
		in, _ := c.Info()
		t.Errorf("dropped %d items, want at least %d", in.Dropped-before.Dropped, 4)
	}
	after, err := c.Info()
	if err != nil {
		t.Fatal(err)
	}
	if after.Rejected < before.Rejected+uint64(len(cases)) {
		t.Errorf("rejected count grew by %d, want at least %d", after.Rejected-before.Rejected, len(cases))
	}
	for _, want := range []string{"dropped item 0x10000000000: not a buffer index", "is not submitted (stale, duplicate or forged)", "rejected request"} {
		// The log reaches us through a pipe, after the counters.
		if !waitFor(3*time.Second, func() bool { return strings.Contains(sp.Log.String(), want) }) {
			t.Errorf("service log lacks %q", want)
		}
	}
	// Still serving, and the secret was never reachable.
	if err := c.Null(); err != nil {
		t.Fatal(err)
	}
	if err := checkedIO(v, "after-garbage", 3, 3); err != nil {
		t.Error(err)
	}
	if _, err := v.Stat(context.Background(), "../../secret"); err == nil {
		t.Error("the secret beside the root is visible through ..")
	}
}
