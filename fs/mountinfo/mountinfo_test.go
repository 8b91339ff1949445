package mountinfo

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestUnescape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/plain/path", "/plain/path"},
		{`/with\040space`, "/with space"},
		{`/tab\011and\012newline`, "/tab\tand\nnewline"},
		{`/back\134slash`, `/back\slash`},
		{`/end\040`, "/end "},
		{`\040`, " "},
		{`/short\04`, `/short\04`},         // not three digits: kept
		{`/notoctal\089`, `/notoctal\089`}, // 8 and 9 are not octal
		{`/toolarge\777`, `/toolarge\777`}, // > 0377 is no byte
		{`/trailing\`, `/trailing\`},
	} {
		if got := Unescape(tc.in); got != tc.want {
			t.Errorf("Unescape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	text := `22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
35 22 0:31 / /mnt/with\040space rw,nosuid master:2 propagate_from:3 - fuse.polytropon polytropon rw,user_id=0
36 22 0:32 / /mnt/no-optional rw - tmpfs tmp\040fs rw
too short line
37 22 0:33 / /mnt/no-separator rw shared:4 tmpfs none rw
38 22 0:34 / /mnt/nothing-after - tmpfs

39 22 0:35 /sub /mnt/bind rw,relatime - ext4 /dev/loop0 rw
`
	want := []Entry{
		{Point: "/", FSType: "ext4", Source: "/dev/vda1"},
		{Point: "/mnt/with space", FSType: "fuse.polytropon", Source: "polytropon"},
		{Point: "/mnt/no-optional", FSType: "tmpfs", Source: "tmp fs"},
		{Point: "/mnt/bind", FSType: "ext4", Source: "/dev/loop0"},
	}
	if got := Parse(text); !reflect.DeepEqual(got, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", got, want)
	}
	if got := Parse(""); len(got) != 0 {
		t.Errorf("Parse of nothing = %+v", got)
	}
}

func TestReadAndMounted(t *testing.T) {
	f := filepath.Join(t.TempDir(), "mountinfo")
	text := "35 22 0:31 / /mnt/a\\040b rw - tmpfs none rw\n36 22 0:32 / /mnt/c rw - ext4 /dev/x rw\n"
	if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string]bool{"/mnt/a b": true, "/mnt/c": true, "/mnt/a\\040b": false, "/mnt": false, "/mnt/c/d": false} {
		got, err := Mounted(f, dir)
		if err != nil || got != want {
			t.Errorf("Mounted(%q) = %v, %v; want %v", dir, got, err, want)
		}
	}
	if _, err := Mounted(filepath.Join(t.TempDir(), "missing"), "/"); err == nil {
		t.Errorf("Mounted of a missing file: no error")
	}
	// The real file of this process: "/" is always a mount point.
	if ok, err := Mounted("/proc/self/mountinfo", "/"); err != nil || !ok {
		t.Errorf("/ not mounted according to /proc/self/mountinfo: %v, %v", ok, err)
	}
	entries, err := Read("/proc/self/mountinfo")
	if err != nil || len(entries) == 0 {
		t.Fatalf("Read(/proc/self/mountinfo) = %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if e.Point == "" || e.FSType == "" {
			t.Errorf("incomplete entry %+v", e)
		}
	}
}
