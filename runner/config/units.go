package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("20s",
// "1m30s") in experiment files. A bare number is rejected: the unit is
// never guessed.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("bad duration %q: want a number with a unit, like \"20s\", \"500ms\" or \"2m\"", s)
	}
	if v < 0 {
		return fmt.Errorf("bad duration %q: negative", s)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way it is parsed.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Size is a byte count written with a unit in experiment files: "8GiB",
// "512MiB", "1GB", "4k". IEC units (KiB, MiB, GiB, TiB) and the one-letter
// forms (k, K, M, G, T, as in fio and dd) are powers of 1024; SI units (kB,
// KB, MB, GB, TB) are powers of 1000; a bare integer or "B" suffix is bytes.
type Size int64

var sizeUnits = map[string]float64{
	"": 1, "B": 1,
	"k": 1 << 10, "K": 1 << 10, "KiB": 1 << 10,
	"M": 1 << 20, "MiB": 1 << 20,
	"G": 1 << 30, "GiB": 1 << 30,
	"T": 1 << 40, "TiB": 1 << 40,
	"kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseSize parses a size string (see Size).
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.TrimSpace(s[i:])
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("bad size %q: want a number with a unit, like \"8GiB\", \"512MiB\", \"1GB\" or \"4k\"", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %v", s, err)
	}
	b := v * mult
	if b > math.MaxInt64 || b != math.Trunc(b) {
		return 0, fmt.Errorf("bad size %q: not a whole number of bytes below 8EiB", s)
	}
	return Size(b), nil
}

// UnmarshalText parses a size string.
func (z *Size) UnmarshalText(b []byte) error {
	v, err := ParseSize(string(b))
	if err != nil {
		return err
	}
	*z = v
	return nil
}

// MarshalText writes the size with the largest exact IEC unit.
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// String formats the size with the largest IEC unit that divides it.
func (z Size) String() string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if z != 0 && int64(z)%u.mult == 0 {
			return strconv.FormatInt(int64(z)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}

// Bytes is the size as an int64.
func (z Size) Bytes() int64 { return int64(z) }
