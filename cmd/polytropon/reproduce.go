package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"polytropon/runner"
	"polytropon/runner/config"
	"polytropon/runner/reproduce"
)

// reproduce runs the papers' figures and checks their claims:
// `polytropon reproduce [-scale S] [figures...]`.
func init() {
	register(command{
		name:    "reproduce",
		summary: "run the papers' figures at a scale and write the reproduction report (claims checked, with verdicts)",
		run:     reproduceRun,
	})
}

func reproduceRun(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("reproduce", "[figure|experiment|claim ...]", stderr)
	scale := fset.String("scale", config.ScaleHost, "size: smoke (seconds per point), host (2-vCPU 24 GiB host) or paper")
	dir := fset.String("experiments", "experiments", "directory of the experiment files and claims/papers.toml")
	out := fset.String("out", "out/reproduce", "runs and the report go to OUT/<scale>/; finished runs there are kept (resume)")
	all := fset.Bool("all", false, "run every experiment file, also those no claim needs")
	cephConf := fset.String("ceph-conf", os.Getenv("POLYTROPON_CEPH_CONF"), "ceph.conf of the Ceph experiments (default $POLYTROPON_CEPH_CONF, else each file's or $CEPH_CONF)")
	publish := fset.String("publish", "", "also write the Markdown report to this file, its figures copied beside it (docs/reproduction.md)")
	plan := fset.Bool("plan", false, "only print what would run: experiments, points, repetitions and the estimated wall time")
	if err := fset.Parse(args); err != nil {
		return err
	}
	opts := reproduce.Options{
		Dir: *dir, Out: *out, Scale: *scale, Figures: fset.Args(), All: *all, CephConf: *cephConf,
		Run: runner.Options{Stdout: stdout, Stderr: stderr},
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *plan {
		return reproduce.Plan(ctx, stdout, opts)
	}
	rep, err := reproduce.Run(ctx, opts)
	if rep == nil {
		return err
	}
	rep.Command = "polytropon reproduce " + strings.Join(args, " ")
	paths, werr := rep.Write(reportDir(*out, rep.Scale))
	if werr != nil {
		return werr
	}
	if *publish != "" {
		if perr := rep.Publish(*publish); perr != nil {
			return perr
		}
		paths = append(paths, *publish)
	}
	fmt.Fprintf(stdout, "%d claims: %v\n", len(rep.Results), rep.Counts())
	for _, p := range paths {
		fmt.Fprintln(stdout, "report:", p)
	}
	return err
}

func reportDir(out, scale string) string { return filepath.Join(out, scale) }
