package queue

import (
	"errors"
	"testing"
	"time"
)

const us = time.Microsecond

func TestSpinPolicyBudget(t *testing.T) {
	p := SpinPolicy{Max: 50 * us, Min: 2 * us, Factor: 2}.WithDefaults()
	for _, c := range []struct {
		expected, want time.Duration
	}{
		{0, 50 * us},         // nothing learnt yet: poll up to Max to learn
		{500, 2 * us},        // a sub-µs wait still polls Min
		{3 * us, 6 * us},     // Factor × expected
		{25 * us, 50 * us},   // capped at Max
		{40 * us, 50 * us},   // capped at Max
		{51 * us, 50 * us},   // longer than Max: poll Max (the cost of a sleep), then sleep
		{300 * us, 50 * us},  //
		{50 * us, 50 * us},   // exactly Max still polls
		{1, 2 * us},          // the smallest mean
		{26 * us, 50 * us},   // 52 capped
		{24 * us, 48 * us},   //
		{1500, 3 * us},       //
		{10 * us, 20 * us},   //
		{49 * us, 50 * us},   //
		{time.Hour, 50 * us}, //
	} {
		if got := p.Budget(c.expected); got != c.want {
			t.Errorf("Budget(%v) = %v, want %v", c.expected, got, c.want)
		}
	}
}

func TestSpinPolicyDefaults(t *testing.T) {
	p := SpinPolicy{}.WithDefaults()
	if p.Max != AdaptiveMax || p.Min != AdaptiveMin || p.Factor != AdaptiveFactor || p.CPUs != 1 ||
		p.PreemptGap != AdaptivePreemptGap || p.Hold != AdaptiveContendedHold {
		t.Errorf("defaults: %+v", p)
	}
	if q := (SpinPolicy{Max: us, Min: 5 * us}).WithDefaults(); q.Min != us {
		t.Errorf("Min above Max not clamped: %+v", q)
	}
	if got := p.MaxBurners(); got != 0 {
		t.Errorf("one CPU: %d burners allowed, want 0 (the CPU is the service's)", got)
	}
	if got := (SpinPolicy{CPUs: 4}).WithDefaults().MaxBurners(); got != 3 {
		t.Errorf("four CPUs: %d burners allowed, want 3", got)
	}
}

func TestSpinPolicyNext(t *testing.T) {
	p := SpinPolicy{}.WithDefaults()
	for _, c := range []struct {
		elapsed, budget    time.Duration
		mayBurn, contended bool
		want               Step
	}{
		{0, 10 * us, true, false, StepBurn},
		{0, 10 * us, false, false, StepYield},
		{0, 10 * us, false, true, StepSleep}, // a yield among many runnable threads costs a slice
		{9 * us, 10 * us, true, false, StepBurn},
		{10 * us, 10 * us, true, false, StepSleep},
		{11 * us, 10 * us, false, false, StepSleep},
		{0, 0, true, false, StepSleep},
	} {
		if got := p.Next(c.elapsed, c.budget, c.mayBurn, c.contended); got != c.want {
			t.Errorf("Next(%v, %v, %v, %v) = %v, want %v", c.elapsed, c.budget, c.mayBurn, c.contended, got, c.want)
		}
	}
}

func TestWaitEstimatorMean(t *testing.T) {
	var e WaitEstimator
	if e.Expected(3) != 0 {
		t.Fatal("fresh estimator expects a wait")
	}
	e.Observe(3, 16*us)
	if got := e.Expected(3); got != 16*us {
		t.Fatalf("first sample: %v, want 16µs", got)
	}
	e.Observe(3, 0)
	if got := e.Expected(3); got != 14*us {
		t.Fatalf("after a 0 sample: %v, want 14µs (weight 1/8)", got)
	}
	if e.Expected(4) != 0 || e.Expected(3+AdaptiveClasses) != 14*us {
		t.Fatal("classes are not kept apart, or not taken modulo AdaptiveClasses")
	}
	for i := 0; i < 200; i++ {
		e.Observe(3, 0)
	}
	if got := e.Expected(3); got <= 0 {
		t.Fatalf("the mean fell to %v: it must stay positive (0 means unknown)", got)
	}
}

// a fixed start time
const startAt = int64(1_000_000)

func TestAdaptiveWaitOneCPUNeverBurns(t *testing.T) {
	p := SpinPolicy{CPUs: 1}.WithDefaults()
	var e WaitEstimator
	w := e.Begin(&p, 0, startAt)
	now := startAt
	for i := 0; i < 10; i++ {
		now += int64(us)
		if got := w.Tick(now); got != StepYield {
			t.Fatalf("tick %d on one CPU: %v, want yield", i, got)
		}
	}
	now += int64(p.Max)
	if got := w.Tick(now); got != StepSleep {
		t.Fatalf("after the budget: %v, want sleep", got)
	}
	w.End(now+int64(time.Millisecond), true)
	if got := e.Expected(0); got != 2*p.Max {
		t.Fatalf("a slept wait of 1ms+ is recorded as %v, want 2 × Max = %v", got, 2*p.Max)
	}
}

func TestAdaptiveWaitBurnerSlots(t *testing.T) {
	p := SpinPolicy{CPUs: 2}.WithDefaults()
	var e WaitEstimator
	now := startAt
	a := e.Begin(&p, 1, now)
	b := e.Begin(&p, 1, now)
	now += int64(us)
	if got := a.Tick(now); got != StepBurn {
		t.Fatalf("first waiter on two CPUs: %v, want burn", got)
	}
	if got := b.Tick(now); got != StepYield {
		t.Fatalf("second waiter on two CPUs: %v, want yield (one CPU is the service's)", got)
	}
	if e.Burners() != 1 {
		t.Fatalf("%d burners, want 1", e.Burners())
	}
	a.End(now, false)
	if e.Burners() != 0 {
		t.Fatalf("End kept the burner slot: %d", e.Burners())
	}
	now += int64(us)
	if got := b.Tick(now); got != StepBurn {
		t.Fatalf("second waiter once the slot is free: %v, want burn", got)
	}
	// b reaches its budget: it sleeps and gives the slot back.
	now = startAt + int64(b.Budget())
	if got := b.Tick(now); got != StepSleep || e.Burners() != 0 {
		t.Fatalf("at the budget: %v with %d burners, want sleep with 0", got, e.Burners())
	}
	b.End(now, true)
}

// TestAdaptiveWaitAsleepPartyYields: a waiter burns only while the party
// it waits for is awake, and gives its burner slot back when it is not.
func TestAdaptiveWaitAsleepPartyYields(t *testing.T) {
	p := SpinPolicy{CPUs: 2}.WithDefaults()
	var e WaitEstimator
	a := e.Begin(&p, 3, startAt)
	for i, s := range []struct {
		awake   bool
		want    Step
		burners int
	}{
		{false, StepYield, 0}, // the woken service may need this CPU
		{true, StepBurn, 1},
		{false, StepYield, 0}, // asleep again: the slot goes back
	} {
		now := startAt + int64(i+1)*int64(us)
		if got := a.TickAwake(now, s.awake); got != s.want || e.Burners() != s.burners {
			t.Fatalf("tick %d, service awake %v: %v with %d burners, want %v with %d", i, s.awake, got, e.Burners(), s.want, s.burners)
		}
	}
	end := startAt + int64(a.Budget())
	if got := a.TickAwake(end, false); got != StepSleep {
		t.Fatalf("at the budget: %v, want sleep", got)
	}
	a.End(end, true)
}

func TestAdaptiveWaitPreemptionStopsBurning(t *testing.T) {
	p := SpinPolicy{CPUs: 4}.WithDefaults()
	var e WaitEstimator
	now := startAt
	a := e.Begin(&p, 2, now)
	now += int64(us)
	if got := a.Tick(now); got != StepBurn {
		t.Fatalf("first tick: %v, want burn", got)
	}
	now += int64(p.PreemptGap) + 1 // descheduled between two polls
	if got := a.Tick(now); got != StepSleep {
		t.Fatalf("after a preemption: %v, want sleep", got)
	}
	if e.Burners() != 0 || !e.Contended(now) {
		t.Fatalf("after a preemption: %d burners, contended %v", e.Burners(), e.Contended(now))
	}
	a.End(now, false)
	// Another wait within the hold sleeps; after it, it burns again.
	b := e.Begin(&p, 2, now)
	if got := b.Tick(now + int64(us)); got != StepSleep {
		t.Fatalf("within the hold: %v, want sleep", got)
	}
	b.End(now+int64(us), false)
	later := now + int64(p.Hold) + int64(us)
	c := e.Begin(&p, 2, later)
	if got := c.Tick(later + int64(us)); got != StepBurn {
		t.Fatalf("after the hold: %v, want burn", got)
	}
	c.End(later+int64(us), false)
}

func TestAdaptiveWaitLearnsBack(t *testing.T) {
	p := SpinPolicy{CPUs: 2}.WithDefaults()
	var e WaitEstimator
	// Slept waits (recorded at 2 × Max) leave the class polling Max.
	for i := 0; i < 20; i++ {
		w := e.Begin(&p, 5, startAt)
		w.End(startAt+int64(time.Millisecond), true)
	}
	if got := e.Expected(5); got != 2*p.Max {
		t.Fatalf("slept waits: mean %v, want 2 × Max = %v", got, 2*p.Max)
	}
	if w := e.Begin(&p, 5, startAt); w.Budget() != p.Max {
		t.Fatalf("class of long waits: budget %v, want Max %v (polling Max costs at most a sleep)", w.Budget(), p.Max)
	}
	// So short waits are seen again and bring the budget back to
	// Factor × their length.
	for i := 0; i < 40; i++ {
		w := e.Begin(&p, 5, startAt)
		w.End(startAt+int64(3*us), false)
	}
	if w := e.Begin(&p, 5, startAt); w.Budget() > 2*3*us+us || w.Budget() < 2*3*us {
		t.Fatalf("after short waits: budget %v, want about %v", w.Budget(), 6*us)
	}
}

// TestAdaptiveWaitGapWithoutSwitchIsNoPreemption: with a Watch, a gap
// between two polls marks contention only when the thread's involuntary
// context switches rose (a stalled vCPU or an interrupt is no thread of
// ours waiting for the CPU); without one, every gap does.
func TestAdaptiveWaitGapWithoutSwitchIsNoPreemption(t *testing.T) {
	p := SpinPolicy{CPUs: 4}.WithDefaults()
	var e WaitEstimator
	switches := int64(7)
	sw := SwitchWatch{read: func() (int64, error) { return switches, nil }}
	sw.Rose() // the count as the thread starts waiting
	now := startAt
	a := e.Begin(&p, 2, now)
	a.Watch = &sw
	now += int64(us)
	if got := a.Tick(now); got != StepBurn {
		t.Fatalf("first tick: %v, want burn", got)
	}
	now += int64(p.PreemptGap) + 1 // a gap, no involuntary switch
	if got := a.Tick(now); got != StepBurn || e.Contended(now) {
		t.Fatalf("after a gap without a switch: %v, contended %v; want burn, not contended", got, e.Contended(now))
	}
	switches++ // a gap with one: the thread was preempted
	now += int64(p.PreemptGap) + 1
	if got := a.Tick(now); got != StepSleep || !e.Contended(now) {
		t.Fatalf("after a preemption: %v, contended %v; want sleep, contended", got, e.Contended(now))
	}
	a.End(now, false)

	failing := SwitchWatch{read: func() (int64, error) { return 0, errors.New("no getrusage") }}
	if !failing.Rose() {
		t.Error("a count that cannot be read must count every gap as a preemption")
	}
}
