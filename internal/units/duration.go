package units

import (
	"fmt"
	"strings"
	"time"
)

// Duration is a time.Duration written as a Go duration string ("20s",
// "500ms", "-1s"). A bare number is refused: the unit is never guessed.
// Whether a negative value means something is the setting's to say.
type Duration time.Duration

// ParseDuration parses a Go duration string with its unit.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: want a number with a unit, like \"20s\", \"500ms\" or \"2m\"", s)
	}
	return v, nil
}

// UnmarshalText parses a duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration the way it is parsed.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }
