package stack

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"polytropon/internal/units"
)

// stackDoc is what a service configuration holds: a stack of layers.
type stackDoc struct {
	Stack []Layer `toml:"stack"`
}

// decodeStack decodes a stack strictly, as the service does.
func decodeStack(t *testing.T, text string) ([]Layer, error) {
	t.Helper()
	var d stackDoc
	md, err := toml.Decode(text, &d)
	if err == nil && len(md.Undecoded()) > 0 {
		err = fmt.Errorf("unknown keys %v", md.Undecoded())
	}
	return d.Stack, err
}

// TestSettingsTOML: layer settings decode from their natural TOML types
// (sizes in the one rule of internal/units, Go durations, "-1s" and -1 to
// disable, Ceph options of any scalar type), are encoded back to the same
// layers, and a bad value or an unknown key is an error naming it.
func TestSettingsTOML(t *testing.T) {
	layers, err := decodeStack(t, `stack = [
  {type = "cache", cache = {capacity = "1GB", max_dirty = "64m", max_readahead = -1, page_size = 4096,
     dirty_expire = "5s", writeback_interval = "500ms", attr_timeout = "-1s", entry_timeout = "2s",
     write_through = true, policy = "lru"}},
  {type = "cache", cache = {max_readahead = "-1MiB", pool = "p", tenant = "c0", weight = 5, pool_capacity = "96MiB",
     pool_policy = "weighted", pool_aging = false, pool_slots = 1, pool_page_size = "4KiB"}},
  {type = "union", branches = [
     {type = "cephfs", dir = "/t1/c0", cephfs = {conf = "/c", id = "t1", mount_timeout = "10s",
        options = {client_oc_size = 268435456, client_oc_max_dirty_age = 1.5, client_permissions = false, rados_osd_op_timeout = "5"}}},
     {type = "local", dir = "/img", readonly = true}]}]
`)
	if err != nil {
		t.Fatal(err)
	}
	five, one, no := 5, 1, false
	want := []Layer{
		{Type: Cache, Cache: &CacheOptions{Capacity: 1e9, MaxDirty: 64 << 20, MaxReadahead: -1, PageSize: 4096,
			DirtyExpire: units.Duration(5 * time.Second), WritebackInterval: units.Duration(500 * time.Millisecond),
			AttrTimeout: units.Duration(-time.Second), EntryTimeout: units.Duration(2 * time.Second), WriteThrough: true, Policy: "lru"}},
		{Type: Cache, Cache: &CacheOptions{MaxReadahead: -1 << 20, Pool: "p", Tenant: "c0", Weight: &five, PoolCapacity: 96 << 20,
			PoolPolicy: "weighted", PoolAging: &no, PoolSlots: &one, PoolPageSize: 4 << 10}},
		{Type: Union, Branches: []Layer{
			{Type: CephFS, Dir: "/t1/c0", CephFS: &CephFSOptions{Conf: "/c", ID: "t1", MountTimeout: units.Duration(10 * time.Second),
				Options: CephConfig{"client_oc_size": "268435456", "client_oc_max_dirty_age": "1.5", "client_permissions": "false",
					"rados_osd_op_timeout": "5"}}},
			{Type: Local, Dir: "/img", ReadOnly: true}}},
	}
	if !reflect.DeepEqual(layers, want) {
		t.Fatalf("decoded\n%#v\nwant\n%#v", layers, want)
	}
	for i := range layers {
		if err := layers[i].Validate(); err != nil {
			t.Errorf("layer %d: %v", i, err)
		}
	}
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(stackDoc{Stack: layers}); err != nil {
		t.Fatal(err)
	}
	back, err := decodeStack(t, buf.String())
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Errorf("encoded and decoded again: %v\n%#v\nfrom\n%s", err, back, buf.String())
	}

	for _, tc := range []struct{ text, want string }{
		{`stack = [{type = "cache", cache = {colour = "red"}}]`, "stack.cache.colour"},
		{`stack = [{type = "cache", cache = {capacity = "lots"}}]`, `bad size "lots"`},
		{`stack = [{type = "cache", cache = {max_readahead = "-lots"}}]`, `bad size "lots"`},
		{`stack = [{type = "cache", cache = {dirty_expire = 5}}]`, `bad duration "5"`},
		{`stack = [{type = "cache", cache = {weight = "heavy"}}]`, "weight"},
		{`stack = [{type = "cephfs", cephfs = {conf = "/c", mount_timeout = "10"}}]`, `bad duration "10"`},
		{`stack = [{type = "cephfs", cephfs = {conf = "/c", options = {client_oc_size = [1]}}}]`, "client_oc_size"},
		{`stack = [{type = "cephfs", options = {conf = "/c"}}]`, "stack.options"},
	} {
		if _, err := decodeStack(t, tc.text); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error naming %q", tc.text, err, tc.want)
		}
	}
}

// TestValidateSettings: settings belong to their layer type, and what the
// settings cannot say is refused before anything is built.
func TestValidateSettings(t *testing.T) {
	zero, many := 0, 20000
	for name, l := range map[string]Layer{
		"cache settings on local":  {Type: Local, Dir: "/x", Cache: &CacheOptions{}},
		"cephfs settings on cache": {Type: Cache, CephFS: &CephFSOptions{Conf: "/c"}},
		"cephfs without settings":  {Type: CephFS, Dir: "/t1"},
		"tenant without pool":      {Type: Cache, Cache: &CacheOptions{Tenant: "a"}},
		"pool without capacity":    {Type: Cache, Cache: &CacheOptions{Pool: "p"}},
		"weight zero":              {Type: Cache, Cache: &CacheOptions{Pool: "p", PoolCapacity: 1 << 20, Weight: &zero}},
		"weight too big":           {Type: Cache, Cache: &CacheOptions{Pool: "p", PoolCapacity: 1 << 20, Weight: &many}},
		"no slots":                 {Type: Cache, Cache: &CacheOptions{Pool: "p", PoolCapacity: 1 << 20, PoolSlots: &zero}},
		"private policy in a pool": {Type: Cache, Cache: &CacheOptions{Pool: "p", PoolCapacity: 1 << 20, Policy: "lru"}},
		"non-libcephfs option":     {Type: CephFS, CephFS: &CephFSOptions{Conf: "/c", Options: CephConfig{"fuse_big_writes": "1"}}},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
