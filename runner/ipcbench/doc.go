// Package ipcbench is the IPC bake-off of Polytropon: it measures the request
// queues of package ipc/queue and the data-transfer methods of package
// ipc/copy the way the papers report them, so that a researcher compares
// variants with one command (polytropon queuebench, polytropon copybench)
// and the tests reuse the same code with small parameters.
//
// Experiments:
//
//   - RunQueue: every design x wait strategy x producers x consumers, each
//     point bounded in time (and optionally in items): mean enqueue latency
//     (each Enqueue call timed on the monotonic clock, the calibrated cost of
//     one clock read subtracted) and end-to-end task throughput with an
//     optional busy-loop work per item in the consumers. Every item is
//     checked to arrive exactly once (count and two checksums).
//   - RunPingPong: the raw cache-line ping-pong baseline, two threads
//     bouncing one shared word, in one process and across two processes
//     over a System V segment.
//   - RunRoundTrip: request/response round trips over two queues (request,
//     response) of one Shared design in a System V segment, to a peer thread
//     or to a real second process (re-executed as "polytropon _ipcpeer", or
//     the test binary in tests; see Launcher and RunPeer).
//   - RunCopy: every copy method across sizes, GB/s and time per copy; CMA
//     also from a real second process.
//
// Results go through package results, the harness's reporting pipeline:
// every point (typed params) contributes one repetition record per round
// with the round's metrics (see Records; the metrics are declared with
// units and directions in host.json). QueueBench and CopyBench print the
// summary (median ± 95% CI over the rounds) and the goal verdicts
// (QueueGoals, CopyGoals, read from the summary) and, given a directory,
// store a results run directory: config.toml, host.json, samples.jsonl,
// summary.csv, bench.txt for benchstat, and the figures of QueuePlots,
// RTTPlots and CopyPlots drawn by results' plot builders. Two such runs
// compare with polytropon compare.
//
// Threads: every measuring goroutine locks its OS thread; with Pin it is
// also pinned to one CPU (round robin over the allowed CPUs). While a queue
// point runs, GOMAXPROCS is raised to cover every producer and consumer so
// that the kernel, not the Go scheduler, multiplexes oversubscribed threads.
package ipcbench
