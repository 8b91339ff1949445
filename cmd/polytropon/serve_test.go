package main

import (
	"flag"
	"io"
	"strings"
	"testing"

	"polytropon/fs/service"
	"polytropon/internal/testenv"
)

func TestServeFlags(t *testing.T) {
	dir := t.TempDir()
	cfgFile := testenv.WriteFile(t, "serve.toml", "pool = \"fromfile\"\nbuffers = 4\n")
	for _, tc := range []struct {
		args []string
		want func(service.Config) bool
	}{
		{[]string{"-config", cfgFile}, func(c service.Config) bool { return c.Pool == "fromfile" && c.Buffers == 4 }},
		{[]string{"-config", cfgFile, "-buffers", "16", "-pool", "p9"}, func(c service.Config) bool { return c.Pool == "p9" && c.Buffers == 16 }},
		{[]string{"-dir", dir, "-copy", "CMA"}, func(c service.Config) bool {
			return len(c.Instances) == 1 && c.Instances[0].Path == "/" && c.Copy == "CMA"
		}},
	} {
		fset := newFlagSetForTest()
		get := bindServeFlags(fset)
		if err := fset.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		c, err := get()
		if err != nil || !tc.want(c) {
			t.Errorf("%v: %+v %v", tc.args, c, err)
		}
	}
	fset := newFlagSetForTest()
	get := bindServeFlags(fset)
	fset.Parse([]string{"-wait", "bogus"})
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "wait") {
		t.Errorf("bad -wait: %v", err)
	}
}

func newFlagSetForTest() *flag.FlagSet {
	fset := flag.NewFlagSet("serve", flag.ContinueOnError)
	fset.SetOutput(io.Discard)
	return fset
}

// TestCacheLayer: a cache layer wraps the rest of the stack; its options
// are checked.
// TestServeFuseFlags: -fuse PATH mounts an instance at its own path,
// PATH=DIR at DIR; FUSE over /, an unknown instance and an empty mount
// point are refused.
func TestServeFuseFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string // mount point of the "/" instance; "error" for a rejected command line
	}{
		{[]string{"-dir", dir, "-fuse", "/=/mnt/x"}, "/mnt/x"},
		{[]string{"-dir", dir}, ""},
		{[]string{"-dir", dir, "-fuse", "/"}, "error"},             // FUSE over /
		{[]string{"-dir", dir, "-fuse", "/other=/mnt/x"}, "error"}, // no such instance
		{[]string{"-dir", dir, "-fuse", "/="}, "error"},
	} {
		fset := newFlagSetForTest()
		get := bindServeFlags(fset)
		if err := fset.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		c, err := get()
		switch {
		case tc.want == "error" && err == nil:
			t.Errorf("%v: accepted", tc.args)
		case tc.want != "error" && err != nil:
			t.Errorf("%v: %v", tc.args, err)
		case err == nil && c.Instances[0].Fuse.Mountpoint("/") != tc.want:
			t.Errorf("%v: fuse at %q, want %q", tc.args, c.Instances[0].Fuse.Mountpoint("/"), tc.want)
		}
	}
}
