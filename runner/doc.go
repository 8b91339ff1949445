// Package runner is the experiment harness behind `polytropon run`: Run
// measures every point of an experiment (system × pool count × sweep
// values), repeating each until the 95% confidence interval of the main
// metric is tight, and stores the results, a summary and the plots through
// package results.
//
// Each repetition provisions fresh pools (package pool), lets the system
// under test set up every pool's containers (package systems), starts one
// workload agent per container inside its pool — this binary re-executed as
// the hidden `_agent` subcommand, see RunAgent for the protocol — releases
// all agents together once every one has prepared, collects the metrics of
// the measured window (package metrics) and tears everything down again,
// whatever ended the repetition. docs/harness.md describes the whole flow,
// the process tree and the cleanup guarantees.
package runner
