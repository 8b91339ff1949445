package systems

import (
	"context"
	"errors"
	"testing"

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

// TestKernelImageSize: K's option size follows the one size rule.
func TestKernelImageSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"4G", 4 << 30, false}, {"512M", 512 << 20, false}, {"1GiB", 1 << 30, false},
		{"100", 100, false}, {"2k", 2048, false}, {"4GB", 4e9, false}, {"", 4 << 30, false},
		{"0", 0, true}, {"-1G", 0, true}, {"G", 0, true},
	} {
		got, err := imageSize(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("imageSize(%q) = %d, %v; want %d (error: %v)", tc.in, got, err, tc.want, tc.bad)
		}
	}
}
