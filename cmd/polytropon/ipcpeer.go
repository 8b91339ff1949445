package main

import (
	"fmt"
	"io"
	"os"

	"polytropon/runner/ipcbench"
)

func init() {
	register(command{
		name:    "_ipcpeer",
		summary: "internal: the second process of the IPC benchmarks (started by queuebench/copybench)",
		run:     runIPCPeer,
	})
}

func runIPCPeer(stdout, stderr io.Writer, args []string) error {
	fset := newFlagSet("_ipcpeer", "", stderr)
	var cfg ipcbench.PeerConfig
	cfg.Flags(fset)
	if err := fset.Parse(args); err != nil {
		return err
	}
	if fset.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fset.Args())
	}
	return ipcbench.RunPeer(cfg, os.Stdin, stdout)
}
