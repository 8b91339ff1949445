// Package units holds the one byte-size type of the project. Every table
// that takes a size (experiment files, workload parameters, system
// options, service layers, command-line flags) parses it with ParseSize,
// so the same string means the same number of bytes everywhere.
//
// The rule: a bare integer is bytes ("B" may follow it); one-letter
// suffixes (k, m, g, t, as in fio, dd and Filebench) and IEC suffixes
// (KiB, MiB, GiB, TiB) are powers of 1024; SI suffixes (kB, MB, GB, TB)
// are powers of 1000. Letters are matched without regard to case, so
// "1G" = "1g" = "1GiB" = 2^30 bytes and "1GB" = "1gb" = 10^9 bytes. A
// decimal number is allowed when it gives a whole number of bytes
// ("1.5G"); negative sizes are not.
package units

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size is a byte count. In TOML it is an integer (bytes) or a string with
// a unit (see the package comment).
type Size int64

// multipliers by lower-cased suffix.
var multipliers = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize parses a size (see the package comment).
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := multipliers[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("bad size %q: want bytes or a number with a unit, like \"4096\", \"64k\", \"512MiB\", \"8G\" or \"1GB\" (k, m, g, t and KiB.. are powers of 1024; kB, MB, GB, TB powers of 1000)", s)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bad size %q: %v", s, err)
	}
	b := v * mult
	if b >= math.MaxInt64 || b != math.Trunc(b) {
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

// MarshalText writes the size as String does.
func (z Size) MarshalText() ([]byte, error) { return []byte(z.String()), nil }

// String writes the size with the largest IEC unit that divides it
// exactly ("8GiB", "1536KiB"), else in bytes ("1000B"); ParseSize reads
// it back to the same value.
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
