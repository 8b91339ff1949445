package cache_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"polytropon/fs"
	"polytropon/fs/cache"
	"polytropon/fs/local"
)

// crashEnv names the data directory of the crash test's child process.
const crashEnv = "POLYTROPON_CACHE_CRASH_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashEnv); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashChild writes files through a write-back cache over dir/data forever:
// every other file is fsync'd and then listed (durably) in dir/manifest;
// the others stay dirty in the cache, open. The parent kills it with
// SIGKILL at some point.
func crashChild(dir string) error {
	l, err := local.New(filepath.Join(dir, "data"), local.WithODirect())
	if err != nil {
		return err
	}
	c, err := cache.New(l, cache.Options{Capacity: 8 << 20, PageSize: 4096, DirtyExpire: time.Hour})
	if err != nil {
		return err
	}
	man, err := os.OpenFile(filepath.Join(dir, "manifest"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	var open []fs.File // unsynced files stay open so their pages stay dirty
	for i := 0; ; i++ {
		name := fmt.Sprintf("f%05d", i)
		size := 1 + (i*7919)%200_000
		f, err := c.Open(bg(), name, unix.O_CREAT|unix.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		data := pattern(size, int64(i))
		for off := 0; off < size; off += 3000 { // unaligned chunks
			if _, err := f.Pwrite(data[off:min(off+3000, size)], int64(off)); err != nil {
				return err
			}
		}
		if i%2 == 1 {
			open = append(open, f)
			continue
		}
		if err := f.Sync(i%4 == 0); err != nil {
			return err
		}
		// Overwrite after the sync without syncing: either version may
		// survive for these bytes, so the parent checks only the rest.
		if size > 10 {
			if _, err := f.Pwrite([]byte("unsynced!!"), 0); err != nil {
				return err
			}
		}
		open = append(open, f)
		if _, err := fmt.Fprintf(man, "%s %d %d\n", name, size, i); err != nil {
			return err
		}
		if err := man.Sync(); err != nil {
			return err
		}
	}
}

// TestCrashKeepsSyncedData kills a writer process mid-workload: every byte
// it had fsync'd through the cache is in the backend.
func TestCrashKeepsSyncedData(t *testing.T) {
	dir := t.TempDir()
	must(t, os.Mkdir(filepath.Join(dir, "data"), 0o755))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	must(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(dir, "manifest"))
		if bytes.Count(b, []byte("\n")) >= 40 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the child listed fewer than 40 synced files in 30 s; stderr: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	err := cmd.Wait()
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
		t.Fatalf("child was not killed by the signal: %v; stderr: %s", err, stderr.String())
	}
	mf, err := os.Open(filepath.Join(dir, "manifest"))
	must(t, err)
	defer mf.Close()
	checked := 0
	sc := bufio.NewScanner(mf)
	for sc.Scan() {
		var name string
		var size, seed int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %d", &name, &size, &seed); err != nil {
			if strings.TrimSpace(sc.Text()) == "" {
				continue
			}
			t.Fatalf("manifest line %q: %v", sc.Text(), err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "data", name))
		must(t, err)
		want := pattern(size, int64(seed))
		if len(got) < size {
			t.Errorf("%s: backend has %d bytes, %d were synced", name, len(got), size)
			continue
		}
		if size > 10 && !bytes.Equal(got[10:size], want[10:]) || size <= 10 && !bytes.Equal(got[:size], want) {
			t.Errorf("%s: synced bytes differ in the backend", name)
		}
		checked++
	}
	if checked < 40 {
		t.Errorf("checked %d synced files, want at least 40", checked)
	}
}
