package config

import (
	"fmt"
	"time"

	"polytropon/internal/units"
)

// Duration is a non-negative time.Duration written as a Go duration string
// ("20s", "1m30s") in experiment files (units.ParseDuration: a bare number
// is rejected, the unit is never guessed).
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := units.ParseDuration(string(b))
	if err != nil {
		return err
	}
	if v < 0 {
		return fmt.Errorf("bad duration %q: negative", b)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration the way it is parsed.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
