package hostcheck

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"
	"time"
)

// CephMonitors returns the monitor addresses (host:port) of a ceph.conf's
// "mon host" (or "mon_host") line: v2/v1 prefixes and nonces dropped, the
// legacy port 6789 added where none is given.
func CephMonitors(conf string) ([]string, error) {
	data, err := os.ReadFile(conf)
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if k = strings.ReplaceAll(strings.TrimSpace(k), "_", " "); !ok || k != "mon host" {
			continue
		}
		var addrs []string
		for _, f := range strings.FieldsFunc(v, func(r rune) bool { return strings.ContainsRune("[], ", r) }) {
			addr := strings.TrimPrefix(strings.TrimPrefix(f, "v2:"), "v1:")
			if i := strings.IndexByte(addr, '/'); i >= 0 {
				addr = addr[:i] // v2:127.0.0.1:3300/0
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				addr = net.JoinHostPort(addr, "6789") // the legacy default port
			}
			addrs = append(addrs, addr)
		}
		if len(addrs) > 0 {
			return addrs, nil
		}
	}
	return nil, fmt.Errorf("%s: no \"mon host\" line", conf)
}

// DialCeph checks that a monitor of the cluster of conf answers: it
// connects to every monitor address at once and reads the banner a Ceph
// messenger (v1 "ceph v027", v2 "ceph v2") sends first, all within timeout.
// A bounded answer to "is the cluster up", where a client library would
// wait for minutes; and a port that accepts but is no monitor does not
// count.
func DialCeph(conf string, timeout time.Duration) error {
	addrs, err := CephMonitors(conf)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	answers := make(chan error, len(addrs))
	for _, addr := range addrs {
		go func() {
			if err := readBanner(addr, deadline); err != nil {
				answers <- fmt.Errorf("monitor %s: %v", addr, err)
				return
			}
			answers <- nil
		}()
	}
	var errs []string
	for range addrs {
		err := <-answers
		if err == nil {
			return nil
		}
		errs = append(errs, err.Error())
	}
	sort.Strings(errs)
	return errors.New(strings.Join(errs, "; "))
}

// cephBanner starts what every Ceph messenger sends on accepting.
const cephBanner = "ceph v"

func readBanner(addr string, deadline time.Time) error {
	d := net.Dialer{Deadline: deadline}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SetReadDeadline(deadline); err != nil {
		return err
	}
	buf := make([]byte, len(cephBanner))
	if _, err := io.ReadFull(c, buf); err != nil {
		return fmt.Errorf("no Ceph banner: %w", err)
	}
	if string(buf) != cephBanner {
		return fmt.Errorf("not a Ceph monitor (it sent %q)", buf)
	}
	return nil
}
