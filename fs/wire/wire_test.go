package wire_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/wire"
	"polytropon/ipc/queue"
	"polytropon/ipc/shm"
)

const headerPath = "../../fs/preload/polytropon_wire.h"

// TestCHeaderUpToDate: the committed header is what go generate writes.
func TestCHeaderUpToDate(t *testing.T) {
	want, err := wire.CHeader()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(headerPath)
	if err != nil {
		t.Fatalf("reading the committed header: %v (run go generate ./fs/wire)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the Go definitions: run go generate ./fs/wire", headerPath)
	}
}

// TestCHeaderMatchesGo compiles a C program against the committed header
// that prints sizeof and offsetof of every field (and a segment key), and
// compares them with Go's values.
func TestCHeaderMatchesGo(t *testing.T) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		t.Skip("needs gcc: apt-get install gcc")
	}
	abs, err := filepath.Abs(headerPath)
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	fmt.Fprintf(&src, "#include <stdio.h>\n#include %q\nint main(void) {\n", abs)
	want := map[string]int64{}
	for _, s := range wire.CStructs() {
		fmt.Fprintf(&src, "\tprintf(\"sizeof %s %%zu\\n\", sizeof(struct %s));\n", s.Name, s.Name)
		want["sizeof "+s.Name] = int64(reflect.TypeOf(s.Value).Size())
		for _, f := range wire.CFields(s.Value) {
			k := "offsetof " + s.Name + "." + f.Name
			fmt.Fprintf(&src, "\tprintf(\"%s %%zu\\n\", offsetof(struct %s, %s));\n", k, s.Name, f.Name)
			want[k] = int64(f.Offset)
		}
	}
	for _, pool := range []string{"default", "p0", "pool-17"} {
		fmt.Fprintf(&src, "\tprintf(\"key %s %%d\\n\", poly_segment_key(%q));\n", pool, pool)
		want["key "+pool] = int64(wire.SegmentKey(pool))
	}
	for _, c := range []wire.CConst{{"POLY_CALL_OPEN", wire.CallOpen}, {"POLY_LIB_FD_BASE", wire.LibFdBase}, {"POLY_NUM_CALLS", wire.NumCalls}} {
		fmt.Fprintf(&src, "\tprintf(\"const %s %%lld\\n\", (long long)%s);\n", c.Name, c.Name)
		want["const "+c.Name] = c.Value
	}
	for _, c := range queue.RCQBLayout() {
		fmt.Fprintf(&src, "\tprintf(\"const %s %%lld\\n\", (long long)%s);\n", c.Name, c.Name)
		want["const "+c.Name] = int64(c.Value)
	}
	src.WriteString("\treturn 0;\n}\n")
	dir := t.TempDir()
	cfile, bin := filepath.Join(dir, "layout.c"), filepath.Join(dir, "layout")
	if err := os.WriteFile(cfile, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(gcc, "-std=c11", "-Wall", "-Werror", "-o", bin, cfile).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		v, err := strconv.ParseInt(f[len(f)-1], 10, 64)
		if err != nil {
			t.Fatalf("bad line %q", sc.Text())
		}
		got[strings.Join(f[:len(f)-1], " ")] = v
	}
	if len(got) != len(want) {
		t.Errorf("C printed %d values, want %d", len(got), len(want))
	}
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			t.Errorf("%s: C says %d (present %v), Go says %d", k, g, ok, w)
		}
	}
}

func testParams() wire.Params {
	return wire.Params{QueueDesign: "rcqb", QueueWait: 1, SpinMicros: 100, QueueCapacity: 64,
		QueueBytes: 192 + 64*64, NumQueues: 2, NumMounts: 8, NumClients: 4, NumBuffers: 4,
		DataSize: 8192, QueueOfCPU: []uint8{0, 1, 1}, ServiceID: 1}
}

func TestLayoutFormatOpen(t *testing.T) {
	l, err := wire.NewLayout(testParams())
	if err != nil {
		t.Fatal(err)
	}
	if l.BuffersOff%wire.PageSize != 0 || l.BufferStride%wire.PageSize != 0 {
		t.Errorf("buffers at %d stride %d: want page aligned", l.BuffersOff, l.BufferStride)
	}
	mem := make([]byte, l.SegmentSize+wire.PageSize)
	w, err := wire.Format(mem, l, 1234)
	if err != nil {
		t.Fatal(err)
	}
	w.SetStatus(wire.StatusReady)
	r, err := wire.Open(mem)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Layout, l) {
		t.Errorf("reopened layout %+v, want %+v", r.Layout, l)
	}
	if r.ServicePid() != 1234 || r.QueueFor(2) != 1 || r.QueueFor(99) != 0 {
		t.Errorf("pid %d, queue of cpu 2 = %d, of cpu 99 = %d", r.ServicePid(), r.QueueFor(2), r.QueueFor(99))
	}
	// Mount table: write, read back, clear.
	if err := w.WriteMount(wire.Mount{Index: 3, Flags: wire.MountUsed, Instance: 7, Path: "/a/b"}); err != nil {
		t.Fatal(err)
	}
	ms, gen := r.ReadMounts()
	if len(ms) != 1 || ms[0].Path != "/a/b" || ms[0].Instance != 7 || gen != 2 {
		t.Errorf("mounts %+v at gen %d, want one /a/b instance 7 at gen 2", ms, gen)
	}
	w.WriteMount(wire.Mount{Index: 3, Path: "/"})
	if ms, _ := r.ReadMounts(); len(ms) != 0 {
		t.Errorf("cleared entry still listed: %+v", ms)
	}
	if err := w.WriteMount(wire.Mount{Index: 8, Flags: wire.MountUsed, Path: "/x"}); err == nil {
		t.Error("mount entry 8 of 8 accepted")
	}
}

func TestLayoutRejectsBadParams(t *testing.T) {
	for name, mod := range map[string]func(*wire.Params){
		"no queues":       func(p *wire.Params) { p.NumQueues = 0 },
		"long design":     func(p *wire.Params) { p.QueueDesign = strings.Repeat("x", 17) },
		"odd data size":   func(p *wire.Params) { p.DataSize = 5000 },
		"cpu to no queue": func(p *wire.Params) { p.QueueOfCPU = []uint8{5} },
		"copy method":     func(p *wire.Params) { p.CopyMethod = 9 },
		"no buffers":      func(p *wire.Params) { p.NumBuffers = 0 },
	} {
		p := testParams()
		mod(&p)
		if _, err := wire.NewLayout(p); !errors.Is(err, wire.ErrBadParams) {
			t.Errorf("%s: got %v, want ErrBadParams", name, err)
		}
	}
}

// TestOpenRejectsScribbledHeader: a header whose counts do not fit the
// segment, or whose recorded offsets disagree with its counts, is refused.
func TestOpenRejectsScribbledHeader(t *testing.T) {
	l, _ := wire.NewLayout(testParams())
	fresh := func() []byte {
		mem := make([]byte, l.SegmentSize)
		if _, err := wire.Format(mem, l, 1); err != nil {
			t.Fatal(err)
		}
		return mem
	}
	off := func(name string) uint64 {
		for _, f := range wire.CFields(wire.Header{}) {
			if f.Name == name {
				return uint64(f.Offset)
			}
		}
		t.Fatalf("no field %s", name)
		return 0
	}
	for _, c := range []struct {
		field string
		val   uint32
	}{
		{"num_buffers", 1 << 15}, {"data_size", 1 << 20}, {"num_queues", 0},
		{"buffer_stride", 12}, {"version", 99}, {"num_cpus", 1000}, {"queue_stride", 3},
	} {
		mem := fresh()
		shm.NewRegion(mem).PutUint32At(off(c.field), c.val)
		if _, err := wire.Open(mem); !errors.Is(err, wire.ErrBadSegment) {
			t.Errorf("%s = %d: got %v, want ErrBadSegment", c.field, c.val, err)
		}
	}
	if _, err := wire.Open(make([]byte, 64)); !errors.Is(err, wire.ErrBadSegment) {
		t.Errorf("unformatted memory: got %v", err)
	}
}

func TestBufferRangesAreChecked(t *testing.T) {
	l, _ := wire.NewLayout(testParams())
	mem := make([]byte, l.SegmentSize)
	w, _ := wire.Format(mem, l, 1)
	b, err := w.Buffer(1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Buffer(4); err == nil {
		t.Error("buffer 4 of 4 accepted")
	}

	p, _ := b.Data.Slice(0, 16)
	copy(p, "dir/name\x00evil..")
	for _, c := range []struct {
		rg   wire.Range
		want syscall.Errno
	}{
		{wire.Range{Off: 0, Len: 8}, 0},
		{wire.Range{Off: 0, Len: 12}, syscall.EINVAL},   // NUL inside
		{wire.Range{Off: 8190, Len: 4}, syscall.EINVAL}, // past the end
		{wire.Range{Off: 0xffffffff, Len: 0xffffffff}, syscall.ENAMETOOLONG},
		{wire.Range{Off: 0xfffffff0, Len: 32}, syscall.EINVAL}, // wraps
		{wire.Range{Off: 0, Len: wire.PathMax + 1}, syscall.ENAMETOOLONG},
	} {
		_, e := b.PathAt(c.rg)
		if e != c.want {
			t.Errorf("PathAt(%+v) = %v, want %v", c.rg, e, c.want)
		}
	}
	if _, e := b.Bytes(wire.Range{Off: 8000, Len: 500}); e != syscall.EINVAL {
		t.Errorf("Bytes past the data area: %v", e)
	}
	// Request fields round-trip through the descriptor.
	req := wire.Request{Call: wire.CallPread, Client: 3, Instance: 9, Args: [wire.NumArgs]uint64{1, 2, 3, 4, 5, 6, 7, 8},
		Path: wire.Range{1, 2}, Path2: wire.Range{3, 4}, Data: wire.Range{5, 6}, Out: wire.Range{7, 8}}
	b.Claim(42)
	b.WriteRequest(&req)
	got := b.ReadRequest()
	req.Owner = 42
	if !reflect.DeepEqual(got, req) {
		t.Errorf("request round trip: got %+v, want %+v", got, req)
	}
	if b.Completed() {
		t.Error("Completed before Complete")
	}
	b.Complete(-5)
	if !b.Completed() || b.Ret() != -5 {
		t.Errorf("after Complete: completed %v ret %d", b.Completed(), b.Ret())
	}
	b.ResetCompletion()
	if b.Completed() {
		t.Error("Completed after ResetCompletion")
	}
}

func TestDirentsRoundTripAndMalformed(t *testing.T) {
	ents := []fs.Dirent{{Name: "a", Ino: 1, Type: 4}, {Name: strings.Repeat("n", 255), Ino: 2, Type: 8}, {Name: "c.txt", Ino: 3}}
	buf := make([]byte, 1024)
	at := 0
	for i := range ents {
		if at = wire.PutDirent(buf, at, &ents[i], int64(i+1)); at < 0 {
			t.Fatalf("entry %d did not fit", i)
		}
		if at%8 != 0 {
			t.Errorf("record end %d not 8-aligned", at)
		}
	}
	got, err := wire.ParseDirents(buf[:at])
	if err != nil || !reflect.DeepEqual(got, ents) {
		t.Errorf("parsed %+v (%v), want %+v", got, err, ents)
	}
	if wire.PutDirent(buf[:30], 0, &ents[1], 1) != -1 {
		t.Error("an entry larger than the buffer was written")
	}
	bad := append([]byte(nil), buf[:at]...)
	bad[16], bad[17] = 0xff, 0xff // reclen beyond the batch
	if _, err := wire.ParseDirents(bad); err == nil {
		t.Error("malformed reclen accepted")
	}
	if _, err := wire.ParseDirents(buf[:10]); err == nil {
		t.Error("truncated record accepted")
	}
}

func TestExecBlob(t *testing.T) {
	st := &wire.ExecState{Uid: 1, Gid: 2, Cwd: "/srv/x", Fds: []wire.ExecFdEntry{
		{Fd: wire.LibFdBase, Flags: 2, Sfd: wire.MakeSfd(3, 4), Inst: 5, Path: "/srv/x/dir"},
		{Fd: wire.LibFdBase + 1, Sfd: wire.MakeSfd(4, 1)}, // no path kept
		{Fd: wire.LibFdBase + 2, Sfd: wire.MakeSfd(5, 1), Inst: 1, Path: "/srv/y"},
	}}
	b, err := wire.MarshalExec(st)
	if err != nil {
		t.Fatal(err)
	}
	got, err := wire.UnmarshalExec(b)
	if err != nil || !reflect.DeepEqual(got, st) {
		t.Errorf("round trip %+v (%v), want %+v", got, err, st)
	}
	for _, c := range []struct {
		name string
		off  int
		val  byte
	}{
		{"a wrong fd count", 4, 200},
		{"a path running past the blob", int(wire.ExecHeaderSize) + 16, 200},
		{"paths shorter than the blob", int(wire.ExecHeaderSize) + 16, 3},
	} {
		bad := slices.Clone(b)
		bad[c.off] = c.val
		if _, err := wire.UnmarshalExec(bad); err == nil {
			t.Errorf("blob with %s accepted", c.name)
		}
	}
	big := &wire.ExecState{Fds: make([]wire.ExecFdEntry, 1000)}
	if _, err := wire.MarshalExec(big); err == nil {
		t.Error("oversized exec state accepted")
	}
	if i, g := wire.SplitSfd(wire.MakeSfd(7, 9)); i != 7 || g != 9 {
		t.Errorf("sfd round trip: %d %d", i, g)
	}
}

// TestProcessAlive: a running process is alive; a zombie (killed, not yet
// reaped) and a reaped one are not.
func TestProcessAlive(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("needs sleep(1): %v", err)
	}
	pid := cmd.Process.Pid
	if !wire.ProcessAlive(pid) {
		t.Error("running process reported dead")
	}
	cmd.Process.Signal(syscall.SIGKILL)
	deadline := time.Now().Add(5 * time.Second)
	for wire.ProcessAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if wire.ProcessAlive(pid) {
		t.Error("zombie reported alive")
	}
	cmd.Wait()
	if wire.ProcessAlive(pid) {
		t.Error("reaped process reported alive")
	}
}

// TestAliveStarvedOrStopped: a late heartbeat of a running service is
// starvation (32 services on 2 CPUs miss beats by seconds), not death; of
// a stopped service it is a hung one.
func TestAliveStarvedOrStopped(t *testing.T) {
	svc := exec.Command("sleep", "60")
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Process.Signal(syscall.SIGCONT); svc.Process.Kill(); svc.Wait() })
	l, err := wire.NewLayout(testParams())
	if err != nil {
		t.Fatal(err)
	}
	w, err := wire.Format(make([]byte, l.SegmentSize+wire.PageSize), l, svc.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	w.SetStatus(wire.StatusReady)
	w.Beat()
	time.Sleep(wire.HeartbeatStale + 200*time.Millisecond) // the heartbeat ages past stale
	if err := w.Alive(); err != nil {
		t.Errorf("a running service with a late heartbeat: %v, want alive (starved, not hung)", err)
	}
	if err := svc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", svc.Process.Pid))
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'T' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sleep %d not stopped after 10s: %s", svc.Process.Pid, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := w.Alive(); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Errorf("a stopped service with a late heartbeat: %v, want an error saying it is stopped", err)
	}
}
