package wfq

import (
	"math"
	"math/rand"
	"testing"
)

// grantsUntil runs a queue where every flow always waits (a served flow
// re-enters at once) and returns how many grants it took until flow key
// was first served, or -1 within limit grants.
func grantsUntil(q *Queue[int], weights []int, key int, limit int) int {
	for i, w := range weights {
		q.Push(i, w, 0)
	}
	for g := 1; g <= limit; g++ {
		k, _, ok := q.Pop()
		if !ok {
			return -1
		}
		if k.(int) == key {
			return g
		}
		q.Push(k, weights[k.(int)], 0)
	}
	return -1
}

// TestAgingBoundsWait: one light flow among heavy ones that always wait is
// served within ⌈Σw/w⌉ + n grants with aging, and starves without it.
func TestAgingBoundsWait(t *testing.T) {
	weights := []int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 100} // the aging experiment
	light := len(weights) - 1
	total := 0
	for _, w := range weights {
		total += w
	}
	bound := (total+weights[light]-1)/weights[light] + len(weights)
	for round := 0; round < 5; round++ {
		q := &Queue[int]{Weighted: true, Aging: true}
		// Let the heavy flows run a while first, in a random arrival order.
		g := grantsUntil(q, weights, light, 100*bound)
		if g < 0 || g > bound {
			t.Fatalf("with aging: light flow served after %d grants, want within %d", g, bound)
		}
	}
	q := &Queue[int]{Weighted: true}
	if g := grantsUntil(q, weights, light, 100*bound); g != -1 {
		t.Errorf("without aging: light flow served after %d grants, want starvation while heavier flows wait", g)
	}
	q = &Queue[int]{}
	if g := grantsUntil(q, weights, light, 100*bound); g < 0 || g > len(weights) {
		t.Errorf("FIFO: light flow served after %d grants, want within %d", g, len(weights))
	}
}

// TestAgingBoundsWaitRepeatedly checks the bound on every wait, not only the
// first, over a long seeded run with flows arriving and leaving. A flow
// that left owing priority brings its debt back, so the bound doubles:
// 2⌈Σw/w⌉ + n.
func TestAgingBoundsWaitRepeatedly(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	weights := []int{100, 200, 400, 800, 1000, 50}
	total := 0
	for _, w := range weights {
		total += w
	}
	q := &Queue[int]{Weighted: true, Aging: true}
	waiting := map[int]int{} // key -> grants since it started waiting
	for i, w := range weights {
		q.Push(i, w, 0)
		waiting[i] = 0
	}
	for g := 0; g < 20000; g++ {
		k, _, ok := q.Pop()
		if !ok {
			t.Fatal("queue empty")
		}
		key := k.(int)
		for o := range waiting {
			waiting[o]++
		}
		if n, bound := waiting[key], 2*((total+weights[key]-1)/weights[key])+len(weights); n > bound {
			t.Fatalf("grant %d: flow %d (weight %d) waited %d grants, bound %d", g, key, weights[key], n, bound)
		}
		delete(waiting, key)
		// Served flows come back at once, or after a random pause.
		for o := range weights {
			if _, in := waiting[o]; !in && (o == key && rng.Intn(4) > 0 || o != key && rng.Intn(3) == 0) {
				q.Push(o, weights[o], 0)
				waiting[o] = 0
			}
		}
	}
}

// TestWeightedGrantsProportional: flows that always wait get grants in
// proportion to their weights.
func TestWeightedGrantsProportional(t *testing.T) {
	weights := []int{100, 200, 400, 800}
	q := &Queue[int]{Weighted: true, Aging: true}
	for i, w := range weights {
		q.Push(i, w, 0)
	}
	got := make([]float64, len(weights))
	const n = 15000
	for g := 0; g < n; g++ {
		k, _, _ := q.Pop()
		got[k.(int)]++
		q.Push(k, weights[k.(int)], 0)
	}
	for i, w := range weights {
		want := float64(w) / 1500 * n
		if math.Abs(got[i]-want)/want > 0.05 {
			t.Errorf("flow %d (weight %d): %v grants, want %v ± 5%%", i, w, got[i], want)
		}
	}
}

// TestMaxPassBoundsStarvation: without aging a light flow starves while
// heavier ones wait, unless MaxPass bounds how many grants it sees go by.
func TestMaxPassBoundsStarvation(t *testing.T) {
	weights := []int{1000, 1000, 100}
	q := &Queue[int]{Weighted: true, MaxPass: 50}
	if g := grantsUntil(q, weights, 2, 1000); g < 1 || g > 51 {
		t.Errorf("MaxPass 50: light flow served after %d grants, want within 51", g)
	}
	q = &Queue[int]{Weighted: true, MaxPass: 50}
	served := 0
	for i, w := range weights {
		q.Push(i, w, 0)
	}
	for range 1000 {
		k, _, _ := q.Pop()
		if k.(int) == 2 {
			served++
		}
		q.Push(k, weights[k.(int)], 0)
	}
	if served < 15 || served > 21 {
		t.Errorf("MaxPass 50: light flow served %d times in 1000 grants, want about one in 51", served)
	}
}
