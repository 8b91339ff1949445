package ipcbench

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/client"
	"polytropon/fs/local"
)

// BenchmarkServicePath compares, in one run, the same operations done by
// plain system calls on a directory (impl=kernel), a direct in-process
// libservice call on it (impl=direct, fs/local) and the IPC path to a real
// service process serving it (impl=ipc-<wait>-<copy>; one service at a
// time, so a spinning service never steals the CPU of another point), plus
// the raw cross-process cache-line ping-pong of ipc/bench:
//
//	go test -run '^$' -bench ServicePath -benchtime 200ms ./fs/client
//
// docs/bench-service.md has the ratios.
func BenchmarkServicePath(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	small, large := make([]byte, 4096), make([]byte, 1<<20)
	for i := range large {
		large[i] = byte(i)
	}
	for name, data := range map[string][]byte{"small": small, "large": large, "statme": small} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("op=null/impl=raw-pingpong", func(b *testing.B) {
		pts, err := RunPingPong(ctx, RTTConfig{Peers: []string{PeerProcess},
			Duration: 200 * time.Millisecond, Launcher: EnvLauncher(os.Args[0])})
		if err != nil || len(pts) != 1 || pts[0].Err != nil {
			b.Fatalf("ping-pong: %v %+v", err, pts)
		}
		for b.Loop() {
		}
		b.ReportMetric(float64(pts[0].Hist.Mean()), "rtt-ns")
	})
	kernelOps(b, dir, small, large)
	direct, err := local.New(dir)
	if err != nil {
		b.Fatal(err)
	}
	defer direct.Close()
	serviceOps(b, "direct", direct, nil, small, large, true)
	for _, wait := range []string{"spin", "spin-futex"} {
		// The papers' placement: the service thread on its own core (the
		// first CPU; -pin), the application thread on another (pinCaller).
		sp := startService(b, svcOpts{args: []string{"-wait", wait, "-queues", "1", "-pin", "-buffer-size", "1048576", "-mount-dir", dir}})
		for _, cm := range []string{"SMC", "SMO", "CMA"} {
			c := sp.dial(b, client.Options{Copy: cm})
			mp := nextMount("/bench")
			if _, err := c.Mount(mp, "local", "dir="+dir, false); err != nil {
				b.Fatal(err)
			}
			view, err := c.FS(mp)
			if err != nil {
				b.Fatal(err)
			}
			// Small operations do not depend on the copy method.
			serviceOps(b, "ipc-"+wait+"-"+cm, view, c, small, large, cm == "SMC")
		}
		if err := sp.Stop(b); err != nil {
			b.Errorf("service exited with %v", err)
		}
	}
}

func kernelOps(b *testing.B, dir string, small, large []byte) {
	b.Run("op=null/impl=kernel", func(b *testing.B) {
		for b.Loop() {
			unix.Getppid()
		}
	})
	b.Run("op=stat/impl=kernel", func(b *testing.B) {
		var st unix.Stat_t
		p := filepath.Join(dir, "statme")
		for b.Loop() {
			if err := unix.Stat(p, &st); err != nil {
				b.Fatal(err)
			}
		}
	})
	for _, sz := range []struct {
		op, file string
		buf      []byte
	}{{"pread4k", "small", small}, {"pread1m", "large", large}} {
		b.Run("op="+sz.op+"/impl=kernel", func(b *testing.B) {
			fd, err := unix.Open(filepath.Join(dir, sz.file), unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer unix.Close(fd)
			b.SetBytes(int64(len(sz.buf)))
			for b.Loop() {
				if n, err := unix.Pread(fd, sz.buf, 0); err != nil || n != len(sz.buf) {
					b.Fatal(n, err)
				}
			}
		})
	}
	b.Run("op=create-close/impl=kernel", func(b *testing.B) {
		p := filepath.Join(dir, "created-kernel")
		for b.Loop() {
			fd, err := unix.Open(p, unix.O_CREAT|unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
			if err != nil {
				b.Fatal(err)
			}
			unix.Close(fd)
		}
	})
}

// serviceOps measures one implementation; small selects the operations
// that do not move bulk data (null, stat, 4 KiB pread, create+close).
func serviceOps(b *testing.B, impl string, svc fs.Service, c *client.Client, small, large []byte, smallOps bool) {
	ctx := context.Background()
	if smallOps && c != nil {
		b.Run("op=null/impl="+impl, func(b *testing.B) {
			defer pinCaller(b, c)()
			for b.Loop() {
				if err := c.Null(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	if smallOps {
		b.Run("op=stat/impl="+impl, func(b *testing.B) {
			defer pinCaller(b, c)()
			for b.Loop() {
				if _, err := svc.Stat(ctx, "statme"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	pread := func(op, file string, buf []byte) {
		b.Run("op="+op+"/impl="+impl, func(b *testing.B) {
			defer pinCaller(b, c)()
			f, err := svc.Open(ctx, file, syscall.O_RDONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if n, err := f.Pread(buf, 0); err != nil || n != len(buf) {
					b.Fatal(n, err)
				}
			}
		})
	}
	if smallOps {
		pread("pread4k", "small", small)
	}
	pread("pread1m", "large", large)
	if smallOps {
		b.Run("op=create-close/impl="+impl, func(b *testing.B) {
			defer pinCaller(b, c)()
			name := "created-" + impl
			for b.Loop() {
				f, err := svc.Open(ctx, name, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, 0o644)
				if err != nil {
					b.Fatal(err)
				}
				f.Close()
			}
		})
	}
}

// pinCaller locks the benchmark goroutine to its thread and pins it to the
// last allowed CPU (the pinned service thread has the first), for IPC
// points; it returns the undo function. Direct and kernel points (c == nil)
// run unpinned.
func pinCaller(b *testing.B, c *client.Client) func() {
	if c == nil {
		return func() {}
	}
	runtime.LockOSThread()
	var old, set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil || old.Count() < 2 {
		return runtime.UnlockOSThread
	}
	last := -1
	for cpu := 0; cpu < 1024; cpu++ {
		if old.IsSet(cpu) {
			last = cpu
		}
	}
	set.Set(last)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		b.Logf("pinning the caller: %v", err)
	}
	return func() {
		unix.SchedSetaffinity(0, &old)
		runtime.UnlockOSThread()
	}
}
