package runner

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"polytropon/fs/stack"
	"polytropon/runner/config"
	"polytropon/systems"
)

// TestCheckedInExperimentOptions loads every experiments/*.toml with the
// real systems' options (config.NewSystemOptions is systems.NewOptions in
// this package), so their [options.<system>] tables decode strictly into
// the systems' structs.
func TestCheckedInExperimentOptions(t *testing.T) {
	files, err := filepath.Glob("../experiments/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no experiment files found: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Setenv("CEPH_CONF", "/etc/ceph/ceph.conf")
			e, err := config.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range e.Systems {
				opts, err := e.SystemOptions(s)
				if err != nil {
					t.Fatal(err)
				}
				if want := systems.NewOptions(s); reflect.TypeOf(opts) != reflect.TypeOf(want) {
					t.Errorf("%s: options %T, want %T", s, opts, want)
				}
			}
		})
	}
	// What quick.toml and ceph-quick.toml say, typed.
	e, err := config.Load("../experiments/quick.toml")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := e.SystemOptions("D")
	if o := d.(*systems.UserlevelOptions); o.Cache == nil || !*o.Cache || o.CacheLayer.Capacity != 256<<20 || !o.Fuse || !o.Pin {
		t.Errorf("quick.toml options.D: %+v", o)
	}
	k, _ := e.SystemOptions("K")
	if o := k.(*systems.KernelOptions); o.Size != 2<<30 {
		t.Errorf("quick.toml options.K: %+v", o)
	}
	// ceph-quick.toml names no cluster: the environment's, else polytropon
	// ceph up's (the systems look for it).
	t.Setenv("CEPH_CONF", "")
	t.Setenv("POLYTROPON_CEPH_CONF", "/polytropon-test/ceph.conf")
	e, err = config.Load("../experiments/ceph-quick.toml")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := e.SystemOptions("F/F")
	if o := f.(*systems.CephFuseOptions); !reflect.DeepEqual(o.Client, stack.CephConfig{"client_oc_size": "268435456"}) {
		t.Errorf("ceph-quick.toml options.F/F: %+v", o)
	}
	if got := cephCluster(e); got != (systems.CephCluster{Conf: "/polytropon-test/ceph.conf", User: "admin"}) {
		t.Errorf("ceph-quick.toml: the systems get the cluster %+v", got)
	}
}

// TestSystemOptionErrors: a system option that is unknown or of the wrong
// type fails when the experiment loads (before any pool is made), naming
// the file, the line, the key and, for an unknown one, the keys the system
// has.
func TestSystemOptionErrors(t *testing.T) {
	const head = "name = \"x\"\nsystems = [%q]\n%s[options.%q]\n"
	const tail = "[[workload]]\nname = \"fileserver\"\n"
	for _, tc := range []struct {
		system, backend, options string
		want                     []string
	}{
		{"D", "", `colour = "red"`, []string{"x.toml:4:", "options.D.colour", `unknown option of system "D"`,
			"have binary, preload, fuse, fuse_kernel_cache, design, wait, copy, buffers, buffer_size, queues, pin, nice, cache, odirect, ext4_image_size, cache_capacity"}},
		{"D", "", `buffers = "many"`, []string{"x.toml:4:", "options.D.buffers"}},
		{"D", "", `fuse = "maybe"`, []string{"x.toml:4:", "options.D.fuse"}},
		{"D", "", `cache = "true"`, []string{"x.toml:4:", "options.D.cache"}},
		{"D", "", `cache_capacity = "lots"`, []string{"x.toml:4:", "options.D.cache_capacity", `bad size "lots"`}},
		{"D", "", `cache_colour = "red"`, []string{"x.toml:4:", "options.D.cache_colour", "unknown option"}},
		{"D", "", `buffer_size = 5000`, []string{"x.toml:3:", "options.D", "buffer_size = 5000 (a multiple of 4096"}},
		{"D", "", `wait = "sleep"`, []string{"x.toml:3:", "options.D", "wait"}},
		{"D", "", "cache = false\ncache_capacity = \"1MiB\"", []string{"options.D", "cache_* options without cache = true"}},
		{"K", "", `sise = "1G"`, []string{"x.toml:4:", "options.K.sise", "have dir, size, mount_options"}},
		{"K", "", `size = "lots"`, []string{"x.toml:4:", "options.K.size", `bad size "lots"`}},
		{"K", "", `size = 0`, []string{"x.toml:3:", "options.K", "option size 0B: want a positive size"}},
		{"K", "", `ceph_conf = "/etc/ceph/ceph.conf"`, []string{"x.toml:4:", "options.K.ceph_conf", "unknown option"}},
		{"F", "", `size = "1G"`, []string{"x.toml:4:", "options.F.size", "have binary"}},
		{"F-ceph", "ceph", `bogus = 1`, []string{"x.toml:5:", `options.F-ceph.bogus`, "client_*, fuse_*, rados_*, objecter_*"}},
		{"F-ceph", "ceph", `client_oc_size = [1]`, []string{"x.toml:4:", "options.F-ceph", "client_oc_size"}},
		{"D-ceph", "ceph", `fuse_big_writes = 1`, []string{"x.toml:5:", "options.D-ceph.fuse_big_writes", "unknown option"}},
		{"K-ceph", "ceph", `size = "1G"`, []string{"x.toml:5:", "options.K-ceph.size", "have ceph_conf, ceph_keyring, ceph_user, ceph_fs_name, mount_options, upper_size"}},
		{"K/K-ceph", "ceph", `upper_size = "1MiB"`, []string{"options.K/K-ceph", "option upper_size 1MiB: want at least 16MiB"}},
		{"F/K", "ceph", `mount_options = "name=other"`, []string{"options.F/K", `"name" is set by the system`}},
	} {
		backend := ""
		if tc.backend != "" {
			backend = "backend = \"ceph\"\n"
		}
		text := strings.Replace(strings.Replace(head, "%q", `"`+tc.system+`"`, 2), "%s", backend, 1) + tc.options + "\n" + tail
		path := filepath.Join(t.TempDir(), "x.toml")
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CEPH_CONF", "/etc/ceph/ceph.conf")
		_, err := config.Load(path)
		if !errors.Is(err, config.ErrInvalid) {
			t.Errorf("%s: %s: got %v, want ErrInvalid", tc.system, tc.options, err)
			continue
		}
		msg := strings.ReplaceAll(err.Error(), path, "x.toml")
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: %s: error lacks %q:\n%s", tc.system, tc.options, w, msg)
			}
		}
	}
}

// TestStoredConfigStatesOptions: the configuration stored with a run
// states the systems' options with their defaults (K's loop device does
// direct I/O) beside what the file wrote, and loads again.
func TestStoredConfigStatesOptions(t *testing.T) {
	e, err := config.Load("../experiments/quick.toml")
	if err != nil {
		t.Fatal(err)
	}
	text, err := withResolvedOptions(e).Encode()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"[options.K]", "loop_direct_io = true", "size = ", "cache_capacity = "} {
		if !strings.Contains(string(text), want) {
			t.Errorf("stored config does not say %q:\n%s", want, text)
		}
	}
	again, err := config.Parse("config.toml", text)
	if err != nil {
		t.Fatalf("the stored config does not load: %v\n%s", err, text)
	}
	k, err := again.SystemOptions("K")
	if err != nil || !k.(*systems.KernelOptions).LoopDirectIO {
		t.Errorf("options.K of the stored config: %+v, %v", k, err)
	}
	if _, err := again.SystemOptions("D"); err != nil {
		t.Errorf("options.D of the stored config: %v", err)
	}
}
