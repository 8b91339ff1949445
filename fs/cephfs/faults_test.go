//go:build ceph && cgo

package cephfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"polytropon/fs"
	"polytropon/fs/cephfs"
)

// hangLimit is how long a call may take before the test calls it hung: far
// above any configured timeout, so it is a hang detector, not a speed check.
const hangLimit = 45 * time.Second

// newWithin runs cephfs.New and fails the test if it neither succeeds nor
// fails within hangLimit.
func newWithin(t *testing.T, cfg cephfs.Config) (*cephfs.FS, error, time.Duration) {
	t.Helper()
	type res struct {
		f   *cephfs.FS
		err error
	}
	ch := make(chan res, 1)
	t0 := time.Now()
	go func() {
		f, err := cephfs.New(context.Background(), cfg)
		ch <- res{f, err}
	}()
	select {
	case r := <-ch:
		return r.f, r.err, time.Since(t0)
	case <-time.After(hangLimit):
		t.Fatalf("cephfs.New hung for %v with %+v", hangLimit, cfg)
		return nil, nil, 0
	}
}

func TestWrongMonitorFails(t *testing.T) {
	requireCeph(t)
	conf, err := os.ReadFile(confPath)
	must(t, err, "read conf")
	re := regexp.MustCompile(`(?m)^\s*mon[ _]host\s*=.*$`)
	if !re.Match(conf) {
		t.Skipf("%s has no mon host line to replace", confPath)
	}
	// Port 9 (discard) on loopback: nothing listens there.
	bad := re.ReplaceAll(conf, []byte("mon host = [v2:127.0.0.1:9,v1:127.0.0.1:9]"))
	badConf := filepath.Join(t.TempDir(), "ceph.conf")
	must(t, os.WriteFile(badConf, bad, 0o600), "write conf")
	f, err, took := newWithin(t, cephfs.Config{ConfPath: badConf, Keyring: adminKeyring(t), MountTimeout: 3 * time.Second})
	if err == nil {
		f.Close()
		t.Fatal("mount through a wrong monitor address succeeded")
	}
	t.Logf("wrong monitor: failed after %v: %v", took.Round(time.Millisecond), err)
}

func TestWrongKeyFails(t *testing.T) {
	requireCeph(t)
	key, err := exec.Command("ceph-authtool", "--gen-print-key").Output()
	if err != nil {
		t.Skipf("needs ceph-authtool (ceph-base): %v", err)
	}
	keyring := filepath.Join(t.TempDir(), "keyring")
	must(t, os.WriteFile(keyring, []byte("[client.admin]\n\tkey = "+strings.TrimSpace(string(key))+"\n"), 0o600), "write keyring")
	f, err, took := newWithin(t, cephfs.Config{ConfPath: confPath, Keyring: keyring, MountTimeout: 3 * time.Second})
	if err == nil {
		f.Close()
		t.Fatal("mount with a wrong key succeeded")
	}
	t.Logf("wrong key: failed after %v: %v", took.Round(time.Millisecond), err)
}

// adminKeyring finds client.admin's keyring: the conf's directory holds it
// for ceph-up.sh clusters.
func adminKeyring(t *testing.T) string {
	k := filepath.Join(filepath.Dir(confPath), "keyring")
	if _, err := os.Stat(k); err != nil {
		t.Skipf("needs the admin keyring next to %s: %v", confPath, err)
	}
	return k
}

// TestTenantIsolation gives tenants A and B keys limited to their own
// directories (ceph fs authorize): each works in its own, and the MDS
// refuses A's key anywhere else.
func TestTenantIsolation(t *testing.T) {
	base := newDir(t, "tenants")
	dirA, dirB := base+"/A", base+"/B"
	must(t, admin.Mkdir(t.Context(), dirA[1:], 0o755), "mkdir A")
	must(t, admin.Mkdir(t.Context(), dirB[1:], 0o755), "mkdir B")
	writeFile(t, admin, dirB[1:]+"/secret", []byte("B's data"))
	suffix := strconv.Itoa(os.Getpid())
	idA, idB := "ptA"+suffix, "ptB"+suffix
	keyA := newTenant(t, idA, dirA)
	keyB := newTenant(t, idB, dirB)

	a := mountAt(t, cephfs.Config{ID: idA, Keyring: keyA, Root: dirA})
	writeFile(t, a, "mine", []byte("A's data"))
	if got := string(readFile(t, a, "mine")); got != "A's data" {
		t.Errorf("tenant A reads back %q", got)
	}
	b := mountAt(t, cephfs.Config{ID: idB, Keyring: keyB, Root: dirB})
	if got := string(readFile(t, b, "secret")); got != "B's data" {
		t.Errorf("tenant B reads its own file: %q", got)
	}

	for _, root := range []string{dirB, base, "/"} {
		f, err, _ := newWithin(t, cephfs.Config{ConfPath: confPath, ID: idA, Keyring: keyA, Root: root, MountTimeout: 5 * time.Second})
		if err == nil {
			f.Close()
			t.Errorf("tenant A's key mounted %s", root)
			continue
		}
		if !errors.Is(err, syscall.EPERM) && !errors.Is(err, syscall.EACCES) {
			t.Errorf("tenant A mounting %s: got %v, want EPERM or EACCES", root, err)
		}
	}
	// Links and ".." from A's root do not reach B either.
	must(t, a.Symlink(t.Context(), "../B/secret", "toB"), "symlink")
	if f, err := a.Open(t.Context(), "toB", syscall.O_RDONLY, 0); err == nil {
		buf := make([]byte, 64)
		n, _ := f.Pread(buf, 0)
		f.Close()
		if bytes.Contains(buf[:n], []byte("B's data")) {
			t.Error("tenant A read B's file through a symlink")
		}
	}
}

// TestOSDKilledMidWrite kills the only OSD of a private cluster (BlueStore,
// so it can come back with its data) while two clients write: one with the
// default settings and one with rados_osd_op_timeout=5. It records what each
// saw, restarts the OSD, and checks that every pending call returns and the
// data written before the fault and the data of calls that succeeded read
// back intact. It brings up its own cluster, so the shared one is untouched.
func TestOSDKilledMidWrite(t *testing.T) {
	requireCeph(t)
	if testing.Short() {
		t.Skip("brings up a private cluster (~15 s); skipped with -short")
	}
	up, err := filepath.Abs("../../scripts/ceph-up.sh")
	must(t, err, "abs")
	if _, err := os.Stat(up); err != nil {
		t.Skipf("needs scripts/ceph-up.sh: %v", err)
	}
	down := filepath.Join(filepath.Dir(up), "ceph-down.sh")
	dir, err := os.MkdirTemp("", "pcfault")
	must(t, err, "tempdir")
	t.Cleanup(func() {
		closing.Wait() // clients of this cluster first
		if out, err := exec.Command(down, dir).CombinedOutput(); err != nil {
			t.Errorf("ceph-down: %v: %s", err, out)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, up, "--bluestore", "--osd-size", "4G", dir).CombinedOutput(); err != nil {
		t.Fatalf("private cluster: %v\n%s", err, out)
	}
	conf := filepath.Join(dir, "ceph.conf")
	plain := mountAt(t, cephfs.Config{ConfPath: conf})
	timed := mountAt(t, cephfs.Config{ConfPath: conf, ClientOptions: map[string]string{"rados_osd_op_timeout": "5"}})
	before := bytes.Repeat([]byte("before-fault "), 1<<16)
	writeFile(t, plain, "before", before)

	pidData, err := os.ReadFile(filepath.Join(dir, "run", "osd.0.pid"))
	must(t, err, "osd pid")
	pid, err := strconv.Atoi(strings.TrimSpace(string(pidData)))
	must(t, err, "osd pid")
	must(t, syscall.Kill(pid, syscall.SIGKILL), "kill -9 osd.0")
	t.Logf("killed osd.0 (pid %d)", pid)

	payload := bytes.Repeat([]byte("during-fault "), 1<<16)
	writeAndSync := func(s fs.Service, name string) chan error {
		ch := make(chan error, 1)
		go func() {
			f, err := s.Open(context.Background(), name, syscall.O_CREAT|syscall.O_WRONLY|syscall.O_TRUNC, 0o644)
			if err != nil {
				ch <- fmt.Errorf("open: %w", err)
				return
			}
			defer f.Close()
			if _, err := f.Pwrite(payload, 0); err != nil {
				ch <- fmt.Errorf("pwrite: %w", err)
				return
			}
			if err := f.Sync(false); err != nil {
				ch <- fmt.Errorf("fsync: %w", err)
				return
			}
			ch <- nil
		}()
		return ch
	}
	plainDone := writeAndSync(plain, "plain")
	timedDone := writeAndSync(timed, "timed")
	outcome := map[string]string{}
	var plainErr, timedErr error
	plainPending, timedPending := true, true
	wait := time.After(12 * time.Second)
	for plainPending || timedPending {
		select {
		case plainErr = <-plainDone:
			plainPending = false
			outcome["default client"] = fmt.Sprintf("returned while the OSD was down: %v", plainErr)
		case timedErr = <-timedDone:
			timedPending = false
			outcome["rados_osd_op_timeout=5"] = fmt.Sprintf("returned while the OSD was down: %v", timedErr)
		case <-wait:
			if plainPending {
				outcome["default client"] = "blocked for 12 s while the OSD was down"
			}
			if timedPending {
				outcome["rados_osd_op_timeout=5"] = "blocked for 12 s while the OSD was down"
			}
			plainPending, timedPending = false, false
		}
	}

	osd := exec.Command("ceph-osd", "-f", "-i", "0", "-c", conf)
	osd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	logf, err := os.OpenFile(filepath.Join(dir, "log", "osd.0.out"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	must(t, err, "osd log")
	defer logf.Close()
	osd.Stdout, osd.Stderr = logf, logf
	must(t, osd.Start(), "restart osd.0")
	must(t, os.WriteFile(filepath.Join(dir, "run", "osd.0.pid"), []byte(strconv.Itoa(osd.Process.Pid)), 0o644), "pid file")
	go func() { _ = osd.Wait() }()
	t.Logf("restarted osd.0 (pid %d)", osd.Process.Pid)

	for name, ch := range map[string]chan error{"default client": plainDone, "rados_osd_op_timeout=5": timedDone} {
		if !strings.HasPrefix(outcome[name], "blocked") {
			continue
		}
		select {
		case err := <-ch:
			outcome[name] += fmt.Sprintf("; after the OSD came back it returned %v", err)
			if name == "default client" {
				plainErr = err
			} else {
				timedErr = err
			}
		case <-time.After(hangLimit):
			t.Fatalf("%s: still blocked %v after the OSD came back", name, hangLimit)
		}
	}
	for _, name := range []string{"default client", "rados_osd_op_timeout=5"} {
		t.Logf("OSD killed mid-write, %s: %s", name, outcome[name])
	}
	if got := readFile(t, plain, "before"); !bytes.Equal(got, before) {
		t.Errorf("data synced before the fault: read %d bytes, want %d intact", len(got), len(before))
	}
	for name, err := range map[string]error{"plain": plainErr, "timed": timedErr} {
		if err != nil {
			continue
		}
		s := fs.Service(plain)
		if name == "timed" {
			s = timed
		}
		if got := readFile(t, s, name); !bytes.Equal(got, payload) {
			t.Errorf("%s: the write reported success but reads back %d bytes, want %d intact", name, len(got), len(payload))
		}
	}
}
