package client_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"polytropon/fs/client"
	"polytropon/fs/wire"
)

// The test binary doubles as client processes: with helperEnv set to a
// role, TestMain runs runHelper instead of the tests.
const helperEnv = "POLYTROPON_CLIENT_HELPER"

// helperCmd makes the command of a helper process.
func helperCmd(t testing.TB, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{helperEnv + "=" + role}, env...)...)
	return cmd
}

func runHelper() int {
	if err := helper(os.Getenv(helperEnv)); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	return 0
}

func helperDial(opts client.Options) (*client.Client, error) {
	key, err := strconv.Atoi(os.Getenv("KEY"))
	if err != nil {
		return nil, fmt.Errorf("KEY: %v", err)
	}
	opts.Key = key
	return client.Dial(context.Background(), opts)
}

func helper(role string) error {
	switch role {
	case "attach":
		// Report which service (if any) this process reaches.
		c, err := helperDial(client.Options{ReadyTimeout: 200 * 1e6})
		if err != nil {
			fmt.Println("err", err)
			return nil
		}
		defer c.Close()
		fmt.Println("ok", c.Mounts()[0].Path)
		return nil
	case "busy":
		// Open files, then issue requests until killed.
		c, err := helperDial(client.Options{})
		if err != nil {
			return err
		}
		v, err := c.FS(os.Getenv("MNT"))
		if err != nil {
			return err
		}
		var fds []int
		for i := 0; i < 5; i++ {
			fd, err := c.OpenFd(fmt.Sprintf("%s/busy%d", os.Getenv("MNT"), i), syscall.O_CREAT|syscall.O_RDWR, 0o644)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
		}
		fmt.Println("ready")
		buf := make([]byte, 4096)
		for i := 0; ; i++ {
			c.PwriteFd(fds[i%len(fds)], buf, int64(i%16)*4096)
			v.Stat(context.Background(), "busy0")
		}
	case "load":
		// One client process doing checked I/O on its own file.
		c, err := helperDial(client.Options{})
		if err != nil {
			return err
		}
		defer c.Close()
		name := fmt.Sprintf("%s/load-%d", os.Getenv("MNT"), os.Getpid())
		fd, err := c.OpenFd(name, syscall.O_CREAT|syscall.O_RDWR|syscall.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		want := bytes.Repeat([]byte{byte(os.Getpid())}, 10000)
		got := make([]byte, len(want))
		for i := 0; i < 200; i++ {
			if _, err := c.PwriteFd(fd, want, int64(i)*10); err != nil {
				return err
			}
			if n, err := c.PreadFd(fd, got, int64(i)*10); err != nil || n != len(got) || !bytes.Equal(got, want) {
				return fmt.Errorf("round %d: read %d bytes, err %v, equal %v", i, n, err, bytes.Equal(got, want))
			}
		}
		return c.CloseFd(fd)
	case "fork-child":
		// Claim the fork slot, adopt the parent's fd table, read.
		tok, _ := strconv.ParseUint(os.Getenv("TOKEN"), 10, 64)
		blob, err := hex.DecodeString(os.Getenv("STATE"))
		if err != nil {
			return err
		}
		st, err := wire.UnmarshalExec(blob)
		if err != nil {
			return err
		}
		c, err := helperDial(client.Options{ForkToken: tok})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Adopt(st); err != nil {
			return err
		}
		fd, _ := strconv.Atoi(os.Getenv("FD"))
		buf := make([]byte, 100)
		n, err := c.ReadFd(fd, buf)
		if err != nil {
			return err
		}
		fmt.Printf("read %q\n", buf[:n])
		return nil
	case "exec1":
		// Open a file, read part of it, save the state, exec ourselves.
		c, err := helperDial(client.Options{})
		if err != nil {
			return err
		}
		fd, err := c.OpenFd(os.Getenv("FILE"), syscall.O_RDONLY, 0)
		if err != nil {
			return err
		}
		cloexec, err := c.OpenFd(os.Getenv("FILE"), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		buf := make([]byte, 3)
		if _, err := c.ReadFd(fd, buf); err != nil {
			return err
		}
		if err := c.SaveExec(); err != nil {
			return err
		}
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, helperEnv+"=") {
				env = append(env, kv)
			}
		}
		env = append(env, helperEnv+"=exec2", "FD="+strconv.Itoa(fd), "CLOEXEC_FD="+strconv.Itoa(cloexec))
		return syscall.Exec(os.Args[0], os.Args, env)
	case "exec2":
		c, err := helperDial(client.Options{RestoreExec: true})
		if err != nil {
			return err
		}
		defer c.Close()
		fd, _ := strconv.Atoi(os.Getenv("FD"))
		cloexec, _ := strconv.Atoi(os.Getenv("CLOEXEC_FD"))
		buf := make([]byte, 100)
		n, err := c.ReadFd(fd, buf)
		if err != nil {
			return err
		}
		fmt.Printf("read %q cloexec-open=%v pid=%d\n", buf[:n], c.IsOurs(cloexec), os.Getpid())
		return nil
	case "scribble":
		return scribbleHelper() // hostile_test.go
	case "steady":
		return steadyHelper() // stopped_test.go
	case "stat-goroutines":
		return statGoroutinesHelper() // lazy_test.go
	}
	return fmt.Errorf("unknown helper role %q", role)
}
