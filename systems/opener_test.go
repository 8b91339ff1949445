package systems

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/BurntSushi/toml"

	"polytropon/fs/hostfs"
)

func TestOpenFS(t *testing.T) {
	dir := t.TempDir()
	svc, err := OpenFS(context.Background(), Container{Dir: dir, FS: FSSpec{Kind: HostKind}})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := svc.(*hostfs.HostFS); !ok || h.Root() != dir {
		t.Fatalf("OpenFS host: got %T %v, want *hostfs.HostFS at %s", svc, svc, dir)
	}
	if _, err := OpenFS(context.Background(), Container{Dir: dir, FS: FSSpec{Kind: "nosuch"}}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kind: got %v, want ErrUnavailable", err)
	}
}

// TestKernelSizeOption: K's option size is a units.Size, in the one size
// rule, positive, 4 GiB by default.
func TestKernelSizeOption(t *testing.T) {
	if o := (&kernelSystem{}).NewOptions().(*KernelOptions); o.Size != 4<<30 {
		t.Errorf("default size %v, want 4GiB", o.Size)
	}
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"4G", 4 << 30, false}, {"512M", 512 << 20, false}, {"1GiB", 1 << 30, false},
		{"100", 100, false}, {"2k", 2048, false}, {"4GB", 4e9, false},
		{"", 0, true}, {"0", 0, true}, {"-1G", 0, true}, {"G", 0, true},
	} {
		o := (&kernelSystem{}).NewOptions().(*KernelOptions)
		_, err := toml.Decode(fmt.Sprintf("size = %q\n", tc.in), o)
		if err == nil {
			err = o.Validate()
		}
		if (err != nil) != tc.bad || !tc.bad && o.Size.Bytes() != tc.want {
			t.Errorf("size = %q: got %d, %v; want %d (error: %v)", tc.in, o.Size, err, tc.want, tc.bad)
		}
	}
}
