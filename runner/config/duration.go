package config

import (
	"fmt"
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
