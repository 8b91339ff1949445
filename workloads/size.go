package workloads

import (
	"fmt"
	"strconv"
	"strings"
)

// Size is a byte count in a workload config. In TOML it is an integer
// (bytes) or a string with a binary suffix, as Filebench writes sizes:
// "16k" = 16384, "1m" = 1 MiB, "5g" = 5 GiB ("KiB", "MB" and so on are
// accepted and are all powers of 1024).
type Size int64

// UnmarshalText parses "1048576", "1m", "1MiB", "16k", "5g".
func (s *Size) UnmarshalText(text []byte) error {
	v, err := ParseSize(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalText writes the shortest exact binary-suffixed form.
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s Size) String() string {
	v := int64(s)
	for _, u := range []struct {
		suffix string
		shift  uint
	}{{"t", 40}, {"g", 30}, {"m", 20}, {"k", 10}} {
		if v != 0 && v%(1<<u.shift) == 0 {
			return strconv.FormatInt(v>>u.shift, 10) + u.suffix
		}
	}
	return strconv.FormatInt(v, 10)
}

// ParseSize parses a Size from its text form.
func ParseSize(text string) (Size, error) {
	t := strings.ToLower(strings.TrimSpace(text))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "ib"), "b")
	shift := uint(0)
	if t != "" {
		switch t[len(t)-1] {
		case 'k':
			shift = 10
		case 'm':
			shift = 20
		case 'g':
			shift = 30
		case 't':
			shift = 40
		}
		if shift != 0 {
			t = t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<62)>>shift {
		return 0, fmt.Errorf("workloads: bad size %q (want bytes or a number with k, m, g, t)", text)
	}
	return Size(n << shift), nil
}
