package pool

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"
)

// BenchmarkPools32 provisions 32 pools (namespaces, memory limit, cores
// planned round-robin) concurrently, starts one process in each, and tears
// them all down. The custom metrics split the time into the two phases.
func BenchmarkPools32(b *testing.B) {
	requirePools(b)
	host := hostCores(b)
	plan, _ := Plan(32, 2, len(host))
	group := testGroup(b)
	ctx := context.Background()
	var createNs, destroyNs time.Duration
	for b.Loop() {
		start := time.Now()
		pools := make([]*Pool, len(plan))
		errs := make(chan error, len(plan))
		for i, cores := range plan {
			go func() {
				mapped := make([]int, len(cores))
				for j, c := range cores {
					mapped[j] = host[c]
				}
				p, err := Create(ctx, Spec{Name: fmt.Sprintf("b%02d", i), Cores: mapped, MemoryBytes: 512 << 20, Namespaces: true, Group: group})
				if err == nil {
					pools[i] = p
					err = p.Run(ctx, Cmd{Path: "/bin/true"})
				}
				errs <- err
			}()
		}
		for range plan {
			if err := <-errs; err != nil {
				b.Error(err)
			}
		}
		mid := time.Now()
		for _, p := range pools {
			if p == nil {
				continue
			}
			go func() { errs <- p.Destroy(ctx) }()
		}
		for _, p := range pools {
			if p == nil {
				continue
			}
			if err := <-errs; err != nil {
				b.Error(err)
			}
		}
		createNs += mid.Sub(start)
		destroyNs += time.Since(mid)
	}
	b.ReportMetric(createNs.Seconds()/float64(b.N), "create-s/op")
	b.ReportMetric(destroyNs.Seconds()/float64(b.N), "destroy-s/op")
	if err := Sweep(group); err != nil {
		b.Error(err)
	}
}

// BenchmarkStart compares starting /bin/true inside a pool (a request to
// the pool engine, fork+exec there, exit status back) with os/exec on the
// host, the baseline of the same run.
func BenchmarkStart(b *testing.B) {
	requirePools(b)
	b.Run("host-exec", func(b *testing.B) {
		for b.Loop() {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("pool", func(b *testing.B) {
		p, err := Create(context.Background(), Spec{Name: "start", Cores: hostCores(b), Namespaces: true, Group: testGroup(b)})
		if err != nil {
			b.Fatal(err)
		}
		defer p.Destroy(context.Background())
		for b.Loop() {
			if err := p.Run(context.Background(), Cmd{Path: "/bin/true"}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
