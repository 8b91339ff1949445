package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"polytropon/ipc/queue"
	"polytropon/runner/ipcbench"
)

func init() {
	register(command{
		name:    "queuebench",
		summary: "bake-off of the request-queue designs: throughput, enqueue latency, round trips",
		run:     runQueuebench,
	})
}

func runQueuebench(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("queuebench", "", stderr)
	designs := fset.String("designs", "", "comma-separated designs (default: every registered one)")
	waits := fset.String("wait", "spin,spin-futex,futex", "comma-separated wait strategies")
	threads := fset.String("threads", "1,2,4,8,16", "comma-separated thread counts, used for producers and consumers")
	producers := fset.String("producers", "", "producer counts (default: -threads)")
	consumers := fset.String("consumers", "", "consumer counts (default: -threads)")
	cross := fset.Bool("cross", false, "measure every producers x consumers pair instead of zipping the lists")
	work := fset.Duration("work", 0, "busy work per item in the consumer")
	duration := fset.Duration("duration", 200*time.Millisecond, "production time per point")
	items := fset.Int64("items", 0, "item budget per point (0: bounded by -duration only)")
	capacity := fset.Int("capacity", 1024, "queue slots")
	spinBudget := fset.Int("spin-budget", 0, "spins before sleeping with spin-futex (0: design default)")
	pin := fset.Bool("pin", false, "pin every thread to a CPU")
	lock := fset.Bool("lock", true, "lock every measuring goroutine to its own OS thread (false: plain goroutines, ignored with -pin)")
	rounds := fset.Int("rounds", 1, "split every point into this many slices, measured round robin with the other designs and pooled")
	rttDuration := fset.Duration("rtt-duration", 200*time.Millisecond, "measuring time per ping-pong and round-trip point")
	noRTT := fset.Bool("no-rtt", false, "skip the ping-pong baseline and the round trips")
	subject := fset.String("subject", "rcqb", "design the goal ratios are computed for")
	reference := fset.String("reference", "channel", "reference design of the throughput goal")
	out := fset.String("out", "", "directory in which the run directory queuebench-<UTC time> is created (summary.csv, bench.txt for benchstat, samples, plots; compare runs with polytropon compare); default: print only")
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	cfg := ipcbench.QueueBenchConfig{Subject: *subject, Reference: *reference, OutDir: *out, SkipRTT: *noRTT}
	q := &cfg.Queue
	q.Designs = ipcbenchList(*designs)
	for _, s := range ipcbenchList(*waits) {
		w, err := queue.ParseWait(s)
		if err != nil {
			return err
		}
		q.Waits = append(q.Waits, w)
	}
	var err error
	if q.Producers, err = ipcbenchInts("-threads", *threads, number); err != nil {
		return err
	}
	q.Consumers = q.Producers
	if *producers != "" {
		if q.Producers, err = ipcbenchInts("-producers", *producers, number); err != nil {
			return err
		}
	}
	if *consumers != "" {
		if q.Consumers, err = ipcbenchInts("-consumers", *consumers, number); err != nil {
			return err
		}
	}
	q.Cross, q.Work, q.Duration, q.MaxItems = *cross, *work, *duration, *items
	q.Capacity, q.SpinBudget, q.Pin, q.NoLock, q.Rounds = *capacity, *spinBudget, *pin, !*lock, *rounds
	cfg.RTT = ipcbench.RTTConfig{Duration: *rttDuration, Pin: *pin, NoLock: !*lock, SpinBudget: *spinBudget, Rounds: *rounds}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	_, err = ipcbench.QueueBench(ctx, cfg, stdout)
	return err
}

func ipcbenchList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// ipcbenchInts parses a comma-separated list of numbers with parse.
func ipcbenchInts(flagName, s string, parse func(string) (int, error)) ([]int, error) {
	var out []int
	for _, f := range ipcbenchList(s) {
		n, err := parse(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flagName, err)
		}
		out = append(out, n)
	}
	return out, nil
}

// number parses a thread count.
func number(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return n, nil
}
