package client_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"polytropon/fs/client"
	"polytropon/fs/front"
	"polytropon/internal/testenv"
)

// TestPoolsCannotSeeEachOther runs two services with the same key, each in
// its own IPC namespace (as pools do): a client in pool A's namespace
// reaches A's service only, one in B's namespace B's, and one in the host
// namespace neither.
func TestPoolsCannotSeeEachOther(t *testing.T) {
	testenv.RequireRoot(t, "CLONE_NEWIPC")
	nsenter := testenv.RequireTool(t, "nsenter", "util-linux")
	key := 1 + int(time.Now().UnixNano()%(1<<30))
	start := func(mount string) *svcProc {
		base := t.TempDir()
		cfg := fmt.Sprintf("[[instance]]\npath = %q\nstack = [{type = \"local\", dir = %q}]\n", mount, base)
		return startService(t, svcOpts{config: cfg, cloneNS: true, key: key})
	}
	a := start("/pool-a")
	b := start("/pool-b")
	if a.Key != b.Key {
		t.Fatalf("services got keys %d and %d, want the same", a.Key, b.Key)
	}
	for _, c := range []struct {
		sp   *svcProc
		want string
	}{{a, "ok /pool-a"}, {b, "ok /pool-b"}} {
		cmd := helperCmd(t, "attach", "KEY="+strconv.Itoa(key))
		args := append([]string{"--ipc=/proc/" + strconv.Itoa(c.sp.Pid()) + "/ns/ipc", "--"}, cmd.Args...)
		ns := exec.Command(nsenter, args...)
		ns.Env = cmd.Env
		out, err := ns.CombinedOutput()
		if err != nil {
			t.Fatalf("client in the namespace of %s: %v\n%s", c.want, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("client in a pool namespace got %q, want %q", got, c.want)
		}
	}
	// The host namespace has no segment under that key.
	_, err := client.Dial(context.Background(), client.Options{Key: key, ReadyTimeout: 100 * time.Millisecond})
	if !errors.Is(err, front.ErrNoService) {
		t.Errorf("dial from the host namespace: %v, want ErrNoService", err)
	}
}
