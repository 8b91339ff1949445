package units

import (
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"4096", 4096}, {"100B", 100}, {" 7 ", 7},
		{"4k", 4 << 10}, {"4K", 4 << 10}, {"4KiB", 4 << 10}, {"4kib", 4 << 10}, {"4kB", 4000}, {"4KB", 4000}, {"4kb", 4000},
		{"1m", 1 << 20}, {"1M", 1 << 20}, {"1MiB", 1 << 20}, {"1MB", 1e6}, {"1mb", 1e6},
		{"1g", 1 << 30}, {"1G", 1 << 30}, {"1GiB", 1 << 30}, {"1GB", 1e9}, {"1 GB", 1e9},
		{"2t", 2 << 40}, {"2TiB", 2 << 40}, {"2TB", 2e12},
		{"1.5G", 3 << 29}, {"0.5k", 512},
	} {
		got, err := ParseSize(c.in)
		if err != nil || int64(got) != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "G", "-1G", "1.1", "1x", "1 k b", "1e3", "9EiB", "99999999999T"} {
		if got, err := ParseSize(bad); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", bad, got)
		}
	}
}

// TestStringRoundTrip: what String writes parses back to the same size.
func TestStringRoundTrip(t *testing.T) {
	for _, z := range []Size{0, 1, 1000, 1024, 1536 << 10, 8 << 30, 3 << 40, 1e9} {
		back, err := ParseSize(z.String())
		if err != nil || back != z {
			t.Errorf("%d -> %q -> %d, %v", z, z.String(), back, err)
		}
	}
}

// TestTOML: a size is an integer (bytes) or a string in TOML.
func TestTOML(t *testing.T) {
	var v struct {
		A, B, C Size
	}
	if _, err := toml.Decode("A = 4096\nB = \"1GB\"\nC = \"1G\"\n", &v); err != nil {
		t.Fatal(err)
	}
	if v.A != 4096 || v.B != 1e9 || v.C != 1<<30 {
		t.Errorf("decoded %+v", v)
	}
	if _, err := toml.Decode("A = \"lots\"\n", &v); err == nil {
		t.Error("a bad size decoded")
	}
}

// TestDuration: a duration needs its unit; negative ones parse (a setting
// may give them a meaning), and String's form reads back.
func TestDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"20s": 20 * time.Second, " 500ms ": 500 * time.Millisecond, "-1s": -time.Second, "1m30s": 90 * time.Second} {
		var d Duration
		if err := d.UnmarshalText([]byte(in)); err != nil || time.Duration(d) != want {
			t.Errorf("%q: got %v, %v; want %v", in, time.Duration(d), err, want)
		}
		b, _ := d.MarshalText()
		var back Duration
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Errorf("%q -> %s -> %v, %v", in, b, time.Duration(back), err)
		}
	}
	for _, bad := range []string{"", "20", "5 parsecs"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) accepted", bad)
		}
	}
}
