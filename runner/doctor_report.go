package runner

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"polytropon/internal/buildinfo"
	"polytropon/internal/hostcheck"
	"polytropon/runner/config"
	"polytropon/systems"
)

// Write prints the diagnosis: the binary, each host capability (ok,
// missing with its fix, or optional when only data is lost), and for an
// experiment each point's verdict and the estimated wall time.
func (d *Diagnosis) Write(w io.Writer) {
	fmt.Fprintln(w, BuildSummary(d.Build))
	fmt.Fprintln(w, "\nhost:")
	width := 0
	for _, it := range d.Host {
		width = max(width, len(it.Name))
	}
	for _, it := range d.Host {
		status := "ok"
		switch {
		case !it.OK && it.Optional:
			status = "optional"
		case !it.OK:
			status = "MISSING"
		}
		line := it.Detail
		if it.For != "" {
			line += " (for " + it.For + ")"
		}
		fmt.Fprintf(w, "  %-8s  %-*s  %s\n", status, width, it.Name, line)
		if !it.OK && it.Fix != "" {
			fmt.Fprintf(w, "  %-8s  %-*s  fix: %s\n", "", width, "", it.Fix)
		}
	}
	if d.Experiment == "" {
		return
	}
	fmt.Fprintf(w, "\nexperiment %s: %d points\n", d.Experiment, len(d.Points))
	writePointChecks(w, d.Points)
	if blocked := len(d.Blocked()); blocked > 0 {
		fmt.Fprintf(w, "\n%d of %d points cannot run here (polytropon run refuses unless -go-on)\n", blocked, len(d.Points))
	} else {
		fmt.Fprintf(w, "\nevery point can run\n")
	}
	if e := d.Estimate; e.Points > 0 {
		fmt.Fprintf(w, "estimated wall time: %s (%d points x %s repetitions x ~%s: warm-up, duration, set-up of pools, system and collectors)\n",
			e.Span(), e.Points, repsSpan(e.Reps), e.PerRep.Round(100*time.Millisecond))
	}
}

func repsSpan(r config.Repetitions) string {
	if r.Min == r.Max {
		return fmt.Sprint(r.Min)
	}
	return fmt.Sprintf("%d-%d", r.Min, r.Max)
}

// VersionInfo is what `polytropon version` reports.
type VersionInfo struct {
	Build buildinfo.Info
	Parts []hostcheck.Item  // optional parts of the binary (build tags)
	Tools map[string]string // tool -> version line, as a run's provenance records them
}

// Version collects the binary's build information, its optional parts and
// the versions of the external tools found on this host.
func Version(ctx context.Context) VersionInfo {
	return VersionInfo{Build: buildinfo.Read(), Parts: systems.BuildParts(), Tools: hostcheck.ToolVersions(ctx)}
}

// Write prints the version report.
func (v VersionInfo) Write(w io.Writer) {
	b := v.Build
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "polytropon\t%s\n", b.Version)
	commit := b.Commit
	if commit == "" {
		commit = "unknown (built outside a git work tree)"
	} else if b.Dirty {
		commit += " (modified work tree)"
	}
	fmt.Fprintf(tw, "commit\t%s\n", commit)
	fmt.Fprintf(tw, "go\t%s %s/%s\n", b.GoVersion, runtime.GOOS, runtime.GOARCH)
	tags := strings.Join(b.Tags, " ")
	if tags == "" {
		tags = "none"
	}
	fmt.Fprintf(tw, "build tags\t%s\n", tags)
	for _, p := range v.Parts {
		if p.OK {
			fmt.Fprintf(tw, "built in\t%s, for %s\n", p.Name, p.For)
		} else {
			fmt.Fprintf(tw, "lacks\t%s, for %s: %s\n", p.Name, p.For, p.Fix)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\ntools:")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, t := range hostcheck.Tools {
		if ver, ok := v.Tools[t.Name]; ok {
			fmt.Fprintf(tw, "  %s\t%s\n", t.Name, ver)
		} else {
			fmt.Fprintf(tw, "  %s\tnot found (%s)\n", t.Name, t.Program.Fix())
		}
	}
	tw.Flush()
}
