package ipcbench

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"polytropon/fs/client"
	"polytropon/fs/service/servicetest"
)

// The service-path benchmarks measure the real service against the raw
// ping-pong of this package, in one run: a "polytropon serve" process
// (servicetest builds it) and a Go client.

type svcOpts struct {
	config string   // TOML text (instances)
	args   []string // extra serve flags
}

type svcProc struct{ *servicetest.Service }

// startService starts a service with a unique key; cleanup stops it.
func startService(b *testing.B, o svcOpts) *svcProc {
	b.Helper()
	args := append([]string{"-mount-dir", b.TempDir(), "-wait", "spin-futex", "-buffers", "32", "-buffer-size", "65536"}, o.args...)
	return &svcProc{servicetest.Start(b, servicetest.Options{Config: o.config, Args: args})}
}

// dial connects a client of this process; cleanup closes it.
func (sp *svcProc) dial(b *testing.B, opts client.Options) *client.Client {
	b.Helper()
	opts.Key = sp.Key
	c, err := client.Dial(context.Background(), opts)
	if err != nil {
		b.Fatalf("dial: %v; service log:\n%s", err, sp.Log)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

var mountSeq atomic.Int64

// nextMount is a fresh mount path under prefix.
func nextMount(prefix string) string { return fmt.Sprintf("%s/m%d", prefix, mountSeq.Add(1)) }
