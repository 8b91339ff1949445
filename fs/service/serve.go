package service

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// Serve builds the service, prints "ready key=K shmid=S pid=P" to stdout
// once clients can attach, serves until ctx is done and stops (removing
// the segment).
//
// With $POLYTROPON_SERVE_CPUPROFILE set, the service writes a CPU profile
// of its whole run to that file (for diagnosing the service side of the
// IPC path).
func Serve(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	svc, err := New(cfg, stderr)
	if err != nil {
		return err
	}
	// Service threads are locked to OS threads and poll; each needs a P
	// of its own, and the heartbeat and reaper need one more.
	if need := int(svc.w.Layout.NumQueues)*(1+max(cfg.MaxExtra, 1)) + 1; runtime.GOMAXPROCS(0) < need {
		runtime.GOMAXPROCS(need)
	}
	if f := os.Getenv("POLYTROPON_SERVE_CPUPROFILE"); f != "" {
		out, err := os.Create(fmt.Sprintf("%s.%d", f, os.Getpid()))
		if err != nil {
			svc.Stop()
			return err
		}
		if err := pprof.StartCPUProfile(out); err != nil {
			out.Close()
			svc.Stop()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			out.Close()
		}()
	}
	svc.Start()
	fmt.Fprintf(stdout, "ready key=%#x shmid=%d pid=%d\n", svc.Key(), svc.SegmentID(), os.Getpid())
	<-ctx.Done()
	return svc.Stop()
}
