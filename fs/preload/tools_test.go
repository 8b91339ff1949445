package preload_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/fs/service/servicetest"
	"polytropon/internal/testenv"
)

// served returns the service's count of answered requests (through the
// Go client of the same protocol).
func served(t testing.TB, p *pool) uint64 {
	t.Helper()
	c, err := client.Dial(context.Background(), client.Options{Key: p.Key})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	in, err := c.Info()
	if err != nil {
		t.Fatalf("info: %v", err)
	}
	return in.Served
}

// checkTraffic fails unless at least min requests reached the service
// since before, and the host directory under the mount path stayed empty.
// Through FUSE the requests do not pass the shared-memory counter: there
// the mount must still be in place (the kernel sent every call under Root
// to the service), and startPool's cleanup checks the host directory once
// the mount is gone.
func checkTraffic(t testing.TB, p *pool, before, min uint64) {
	t.Helper()
	if p.Via == viaFuse {
		if !fuseMounted(t, p.Root) {
			t.Errorf("the FUSE mount on %s is gone", p.Root)
		}
		return
	}
	if n := served(t, p) - before; n < min {
		t.Errorf("only %d requests reached the service, want at least %d", n, min)
	}
	if ents, _ := os.ReadDir(p.Root); len(ents) != 0 {
		t.Errorf("the host directory under the mount path got %d entries", len(ents))
	}
}

// TestStressNG runs stress-ng's hdd and iomix stressors on the union,
// through the library and through FUSE.
func TestStressNG(t *testing.T) {
	testenv.RequireTool(t, "stress-ng", "stress-ng")
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		for _, args := range [][]string{
			{"--hdd", "1", "--hdd-bytes", "8M", "-t", "3s"},
			{"--iomix", "1", "--iomix-bytes", "4M", "-t", "3s"},
		} {
			before := served(t, p)
			yaml := filepath.Join(t.TempDir(), "m.yaml")
			full := append(args, "--temp-path", p.Root, "--metrics-brief", "--yaml", yaml)
			out := runEnv(t, p, p.Root, nil, "stress-ng", full...)
			if !strings.Contains(out, "successful run completed") {
				b, _ := os.ReadFile(yaml)
				t.Errorf("stress-ng %v did not complete through %s:\n%s\n%s", args, via, out, b)
			}
			checkTraffic(t, p, before, 500)
		}
	})
}

// TestSysbenchFileIO runs sysbench fileio prepare, run and cleanup through
// the library and through FUSE.
func TestSysbenchFileIO(t *testing.T) {
	testenv.RequireTool(t, "sysbench", "sysbench")
	forEachAccess(t, func(t *testing.T, via access) {
		p := startPool(t, poolOpts{via: via})
		before := served(t, p)
		common := []string{"fileio", "--file-total-size=16M", "--file-num=4"}
		run(t, p, p.Root, 60*time.Second, "sysbench", append(common, "prepare")...)
		ents, _ := os.ReadDir(p.Upper)
		if len(ents) != 4 {
			t.Fatalf("prepare made %d files in the writable branch, want 4", len(ents))
		}
		out := run(t, p, p.Root, 60*time.Second, "sysbench", append(common, "--file-test-mode=rndrw", "--time=3", "run")...)
		if !strings.Contains(out, "reads/s") || strings.Contains(out, "FATAL") {
			t.Errorf("sysbench run:\n%s", out)
		}
		// Linux aio through libaio (emulated for library fds, the
		// kernel's on the FUSE mount).
		out = run(t, p, p.Root, 60*time.Second, "sysbench", append(common, "--file-test-mode=rndrw", "--file-io-mode=async", "--time=2", "run")...)
		if !strings.Contains(out, "reads/s") || strings.Contains(out, "FATAL") {
			t.Errorf("sysbench run, async mode:\n%s", out)
		}
		run(t, p, p.Root, 60*time.Second, "sysbench", append(common, "cleanup")...)
		if ents, _ := os.ReadDir(p.Upper); len(ents) != 0 {
			t.Errorf("cleanup left %d files", len(ents))
		}
		checkTraffic(t, p, before, 1000)
	})
}

// TestLighttpd: lighttpd serves the union root (through the library and
// from the FUSE mount); a file of the shared lower branch and one written
// through the same access path come back intact over HTTP.
func TestLighttpd(t *testing.T) {
	testenv.RequireTool(t, "lighttpd", "lighttpd")
	big := make([]byte, 3<<20+17)
	for i := range big {
		big[i] = byte(i * 31)
	}
	forEachAccess(t, func(t *testing.T, via access) { lighttpdServes(t, via, big) })
}

func lighttpdServes(t *testing.T, via access, big []byte) {
	p := startPool(t, poolOpts{via: via, lower: func(d string) {
		if err := os.WriteFile(filepath.Join(d, "image.bin"), big, 0o644); err != nil {
			t.Fatal(err)
		}
	}})
	page := "written through " + string(via) + "\n"
	run(t, p, p.Root, 10*time.Second, "sh", "-c", "printf '%s' \""+page+"\" > page.txt")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "lighttpd.conf")
	cfg := fmt.Sprintf(`server.document-root = %q
server.port = %d
server.bind = "127.0.0.1"
mimetype.assign = (".bin" => "application/octet-stream", ".txt" => "text/plain")
`, p.Root, port)
	if err := os.WriteFile(conf, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := command(ctx, p, p.Root, "lighttpd", "-D", "-f", conf)
	logs := &servicetest.Log{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cancel()
		cmd.Wait()
	}()
	get := func(name string) ([]byte, error) {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/%s", port, name))
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			return b, fmt.Errorf("status %s", resp.Status)
		}
		return b, err
	}
	var body []byte
	if !waitFor(10*time.Second, func() bool { body, err = get("page.txt"); return err == nil }) {
		t.Fatalf("GET page.txt: %v\n%s", err, logs)
	}
	if string(body) != page {
		t.Errorf("page.txt = %q, want %q", body, page)
	}
	body, err = get("image.bin")
	if err != nil || string(body) != string(big) {
		t.Errorf("image.bin: %v, %d bytes (want %d), equal %v", err, len(body), len(big), string(body) == string(big))
	}
	if _, err := get("missing.txt"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("GET of a missing file: %v", err)
	}
}

// TestFio runs fio with the psync, libaio (Linux aio through libaio's
// syscall() and io_getevents, emulated for library fds) and mmap engines,
// verifying the data it wrote.
func TestFio(t *testing.T) {
	testenv.RequireTool(t, "fio", "fio")
	p := startPool(t, poolOpts{})
	for _, engine := range []string{"psync", "libaio", "mmap"} {
		before := served(t, p)
		out := runEnv(t, p, p.Root, nil, "fio", "--name=v-"+engine, "--directory="+p.Root, "--rw=randwrite",
			"--bs=4k", "--size=2M", "--ioengine="+engine, "--iodepth=8", "--verify=crc32c", "--do_verify=1",
			"--verify_fatal=1")
		if !strings.Contains(out, "err= 0") {
			t.Errorf("fio %s:\n%s", engine, out)
		}
		checkTraffic(t, p, before, 500)
	}
}
