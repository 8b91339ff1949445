package pool

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestOOMKillNamed: a process that outgrows its pool's memory limit is
// killed by the kernel, and OOMKills counts it and names it from the
// kernel log.
func TestOOMKillNamed(t *testing.T) {
	requirePools(t)
	p := mustCreate(t, Spec{Name: "oom", Cores: hostCores(t)[:1], MemoryBytes: 64 << 20, Namespaces: true, Group: testGroup(t)})
	if r, err := p.OOMKills(); err != nil || r.Kills != 0 {
		t.Fatalf("fresh pool: %+v, %v; want no kills", r, err)
	}
	// tail -c keeps the last 150 MiB in memory: more than the 64 MiB.
	err := p.Run(context.Background(), Cmd{Path: "sh", Args: []string{"sh", "-c", "head -c 200000000 /dev/zero | tail -c 150000000 >/dev/null"}})
	if err == nil {
		t.Fatal("a 150 MiB tail in a 64 MiB pool ran to the end")
	}
	r, err := p.OOMKills()
	if err != nil {
		t.Fatal(err)
	}
	if r.Kills < 1 {
		t.Fatalf("OOMKills = %+v, want the tail killed", r)
	}
	if len(r.Victims) == 0 {
		t.Skipf("the kernel log (/dev/kmsg) does not name the victim here: %+v", r)
	}
	if r.Victims[0].Command != "tail" || r.Victims[0].PID <= 0 || !strings.Contains(r.String(), "tail (pid ") {
		t.Errorf("victims %+v (%s), want tail with its pid", r.Victims, r)
	}
}

func TestOOMVictimsParse(t *testing.T) {
	const rel = "/polytropon/run-1/p0"
	recs := []kmsgRecord{
		{at: 5 * time.Second, text: "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=p0,mems_allowed=0,oom_memcg=" + rel + ",task_memcg=" + rel + ",task=old,pid=7,uid=0"},
		{at: 20 * time.Second, text: "Memory cgroup out of memory: Killed process 42 (polytropon) total-vm:1kB"},
		{at: 20 * time.Second, text: "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=p0,mems_allowed=0,oom_memcg=" + rel + ",task_memcg=" + rel + ",task=polytropon,pid=42,uid=0"},
		{at: 21 * time.Second, text: "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=p1,mems_allowed=0,oom_memcg=/polytropon/run-1/p1,task_memcg=/polytropon/run-1/p1,task=other,pid=43,uid=0"},
	}
	got := oomVictims(recs, rel, 10*time.Second)
	if len(got) != 1 || got[0] != (OOMKill{PID: 42, Command: "polytropon"}) {
		t.Errorf("victims %+v, want polytropon pid 42 only (not an earlier pool's, not another pool's)", got)
	}
	if s := (OOMReport{Kills: 2, Victims: got}).String(); s != "polytropon (pid 42) and 1 more" {
		t.Errorf("report %q", s)
	}
}
