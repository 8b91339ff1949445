package servicetest

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"polytropon/internal/testenv"
	"polytropon/ipc/shm"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.RemoveBuilt()
	os.Exit(code)
}

// TestStartStop: a started service has its segment; Stop ends it cleanly
// and the segment goes with it.
func TestStartStop(t *testing.T) {
	s := Start(t, Options{Args: []string{"-dir", t.TempDir(), "-buffers", "4", "-buffer-size", "4096"}})
	seg, err := shm.Open(s.Key)
	if err != nil {
		t.Fatalf("no segment under key %d after the ready line: %v", s.Key, err)
	}
	seg.Detach()
	if err := s.Stop(t); err != nil {
		t.Errorf("exit after SIGTERM: %v; log:\n%s", err, s.Log)
	}
	if seg, err := shm.Open(s.Key); err == nil {
		seg.Detach()
		t.Errorf("segment %d survived a clean stop", s.Key)
	}
}

// TestLaunchExits: a service that cannot start is reported as ErrExited
// with its reason in the log, and Kill of an exited one does not hang.
func TestLaunchExits(t *testing.T) {
	s, err := Launch(t, Options{Config: "this is not toml"})
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Launch with a broken config: %v, want ErrExited", err)
	}
	if werr := s.Wait(); werr == nil || !strings.Contains(s.Log.String(), "polytropon serve") {
		t.Errorf("exit %v; log should say why:\n%s", werr, s.Log)
	}
	done := make(chan struct{})
	go func() { s.Kill(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Kill of an exited service hangs")
	}
}
