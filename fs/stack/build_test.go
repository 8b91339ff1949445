package stack

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"polytropon/fs"
)

// TestSharedLayerBuiltOnce: two stacks naming one shared lower get the same
// libservice; it stays open until the last stack closes.
func TestSharedLayerBuiltOnce(t *testing.T) {
	image := t.TempDir()
	os.WriteFile(filepath.Join(image, "base"), []byte("image"), 0o644)
	clone := func() []Layer {
		return []Layer{{Type: Union, Branches: []Layer{
			{Type: Local, Dir: t.TempDir()},
			{Type: Local, Dir: image, ReadOnly: true, Shared: "image"}}}}
	}
	var b Builder
	a, c := buildTwice(t, &b, clone)
	lowerOf := func(s *Stack) fs.Service { return s.Service.(fs.Unwrapper).Unwrap()[1] }
	if lowerOf(a) != lowerOf(c) {
		t.Fatal("the shared image was built twice")
	}
	lower := lowerOf(a)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lower.Stat(context.Background(), "base"); err != nil {
		t.Fatalf("shared image closed while a stack still uses it: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := lower.Stat(context.Background(), "base"); err == nil {
		t.Error("shared image still open after its last stack closed")
	}
	// A different definition under the same name is refused.
	if _, err := b.Build(clone()); err != nil {
		t.Fatal(err)
	}
	other := clone()
	other[0].Branches[1].ODirect = true
	if _, err := b.Build(other); !errors.Is(err, ErrConfig) {
		t.Errorf("conflicting reuse of a shared name: got %v, want ErrConfig", err)
	}
}

// TestBuildErrorsNameTheLayer: a failing branch is named by position and
// role, and nothing built before it stays open.
func TestBuildErrorsNameTheLayer(t *testing.T) {
	var b Builder
	upper := t.TempDir()
	_, err := b.Build(LocalStack(upper, filepath.Join(upper, "missing")))
	if err == nil || !strings.Contains(err.Error(), "union branch 1 (read-only lower branch)") {
		t.Fatalf("got %v, want an error naming union branch 1", err)
	}
	for name, layers := range map[string][]Layer{
		"empty":           nil,
		"local on top":    {{Type: Local, Dir: upper}, {Type: Local, Dir: upper}},
		"cache alone":     {{Type: Cache}},
		"ceph not bottom": {{Type: CephFS, Dir: "/x", CephFS: &CephFSOptions{Conf: "c"}}, {Type: Local, Dir: upper}},
		"unknown":         {{Type: "tape"}},
	} {
		if _, err := b.Build(layers); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
}

// TestValidate: what Validate refuses before anything is built.
func TestValidate(t *testing.T) {
	for name, l := range map[string]Layer{
		"relative local":   {Type: Local, Dir: "rel"},
		"local branches":   {Type: Local, Dir: "/x", Branches: []Layer{{Type: Local, Dir: "/y"}}},
		"empty union":      {Type: Union},
		"bad branch":       {Type: Union, Branches: []Layer{{Type: Local, Dir: "rel"}}},
		"odirect on cache": {Type: Cache, ODirect: true},
		"no type":          {},
		"unknown":          {Type: "tape"},
	} {
		if err := l.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	for _, l := range append(LocalStack("/a", "/b", "/c"), LocalStack("/a")...) {
		if err := l.Validate(); err != nil {
			t.Errorf("LocalStack layer %+v: %v", l, err)
		}
	}
}

// TestOwnClosesTopFirst: a stack of services built elsewhere closes them
// top first.
func TestOwnClosesTopFirst(t *testing.T) {
	var order []string
	st := Own(closer{name: "top", order: &order}, closer{name: "mid", order: &order}, closer{name: "bottom", order: &order})
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "top,mid,bottom" {
		t.Errorf("closed %s, want top,mid,bottom", got)
	}
	if err := st.Close(); err != nil || len(order) != 3 {
		t.Errorf("second Close: %v, closed %v", err, order)
	}
}

// closer is a service that records when it is closed.
type closer struct {
	fs.Unimplemented
	name  string
	order *[]string
}

func (c closer) Close() error { *c.order = append(*c.order, c.name); return nil }

// TestSharedCacheBranch: a cache layer over a stack of its own (over) is a
// union branch; shared, it is built once for every clone, and its cache
// and what is below it close with the last clone.
func TestSharedCacheBranch(t *testing.T) {
	image := t.TempDir()
	os.WriteFile(filepath.Join(image, "base"), []byte("image"), 0o644)
	clone := func() []Layer {
		return []Layer{{Type: Union, Branches: []Layer{
			{Type: Cache, Over: []Layer{{Type: Local, Dir: t.TempDir()}}},
			{Type: Cache, Shared: "image", Over: []Layer{{Type: Local, Dir: image, ReadOnly: true}}}}}}
	}
	var b Builder
	a, c := buildTwice(t, &b, clone)
	branch := func(s *Stack, i int) fs.Service { return s.Service.(fs.Unwrapper).Unwrap()[i] }
	if branch(a, 1) != branch(c, 1) || branch(a, 0) == branch(c, 0) {
		t.Fatal("want the image's cache shared and the writable branches' caches private")
	}
	lower := branch(a, 1).(fs.Unwrapper).Unwrap()[0]
	a.Close()
	if _, err := lower.Stat(context.Background(), "base"); err != nil {
		t.Fatalf("image closed while a clone still uses it: %v", err)
	}
	c.Close()
	if _, err := lower.Stat(context.Background(), "base"); err == nil {
		t.Error("the image below the shared cache is still open after the last clone closed")
	}
	// over belongs to cache layers, and a cache with over has nothing
	// below it in its own stack.
	if err := (&Layer{Type: Local, Dir: image, Over: []Layer{{Type: Local, Dir: image}}}).Validate(); err == nil {
		t.Error("over on a local layer accepted")
	}
	if err := (&Layer{Type: Cache, Over: []Layer{{Type: Local, Dir: "rel"}}}).Validate(); err == nil {
		t.Error("a bad layer in over accepted")
	}
	if _, err := b.Build([]Layer{{Type: Cache, Over: []Layer{{Type: Local, Dir: image}}}, {Type: Local, Dir: image}}); !errors.Is(err, ErrConfig) {
		t.Errorf("cache with over on top of layers: %v, want ErrConfig", err)
	}
}

// buildTwice builds two stacks of what mk describes.
func buildTwice(t *testing.T, b *Builder, mk func() []Layer) (*Stack, *Stack) {
	t.Helper()
	var out [2]*Stack
	for i := range out {
		st, err := b.Build(mk())
		if err != nil {
			t.Fatal(err)
		}
		out[i] = st
	}
	return out[0], out[1]
}
