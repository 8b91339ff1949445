package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// ceph wraps scripts/ceph-{up,down,status}.sh: a single-node Ceph cluster
// on 127.0.0.1 whose files all live under -dir (see docs/ceph.md).
func init() {
	register(command{
		name:    "ceph",
		summary: "bring a local single-node Ceph cluster up or down, or report on it (up|down|status)",
		run:     runCeph,
	})
}

// defaultCephDir is where `polytropon ceph up` puts the cluster by default.
const defaultCephDir = "/tmp/polytropon-ceph"

func runCeph(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("ceph", "up|down|status", stderr)
	dir := fset.String("dir", defaultCephDir, "cluster directory (ceph.conf, keyrings, data, logs, pids)")
	scripts := fset.String("scripts", "", "directory of ceph-up.sh and friends (default: $POLYTROPON_SCRIPTS, ./scripts, or next to the executable)")
	bluestore := fset.Bool("bluestore", false, "up: OSD on BlueStore over a sparse file instead of memstore (RAM)")
	osdSize := fset.String("osd-size", "", "up: OSD capacity (memstore default 4G, BlueStore default 10G)")
	tenants := fset.String("tenants", "", "up: comma-separated tenants tN, each with directory /tN and a key limited to it")
	port := fset.Int("port", 0, "up: monitor port (default: a free one)")
	timeout := fset.Int("timeout", 0, "up: seconds to wait for HEALTH_OK (default 90)")
	keep := fset.Bool("keep", false, "down: keep the directory (logs)")
	// The action may come before or after the flags.
	var action string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		action, args = args[0], args[1:]
	}
	if err := fset.Parse(args); err != nil {
		return err
	}
	if action == "" && fset.NArg() > 0 {
		action = fset.Arg(0)
		fset.Parse(fset.Args()[1:])
	}
	if action == "" || fset.NArg() != 0 {
		fset.Usage()
		return fmt.Errorf("want one of up, down, status and flags; got %q", args)
	}
	var argv []string
	switch action {
	case "up":
		if *bluestore {
			argv = append(argv, "--bluestore")
		}
		if *osdSize != "" {
			argv = append(argv, "--osd-size", *osdSize)
		}
		if *tenants != "" {
			argv = append(argv, "--tenants", *tenants)
		}
		if *port != 0 {
			argv = append(argv, "--port", strconv.Itoa(*port))
		}
		if *timeout != 0 {
			argv = append(argv, "--timeout", strconv.Itoa(*timeout))
		}
	case "down":
		if *keep {
			argv = append(argv, "--keep")
		}
	case "status":
	default:
		fset.Usage()
		return fmt.Errorf("unknown action %q (want up, down or status)", action)
	}
	script, err := findCephScript(*scripts, "ceph-"+action+".sh")
	if err != nil {
		return err
	}
	cmd := exec.Command(script, append(argv, *dir)...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(script), err)
	}
	return nil
}

// findCephScript locates one of the scripts.
func findCephScript(dir, name string) (string, error) {
	var cands []string
	for _, d := range []string{dir, os.Getenv("POLYTROPON_SCRIPTS"), "scripts"} {
		if d != "" {
			cands = append(cands, filepath.Join(d, name))
		}
	}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "scripts", name), filepath.Join(filepath.Dir(exe), "scripts", name))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.Mode()&0o111 != 0 {
			return filepath.Abs(c)
		}
	}
	return "", errors.New("cannot find scripts/" + name + ": run from the repository root or pass -scripts DIR")
}
