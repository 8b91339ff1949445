package stack

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"polytropon/internal/units"
)

// The value types of layer settings in TOML: byte counts that a negative
// value turns off, and Ceph client options (durations are units.Duration;
// a negative one turns off what it times where the setting says so).

// ByteLimit is a byte count that a negative value turns off
// (max_readahead = -1): a size in the rule of internal/units, or "-"
// followed by one.
type ByteLimit int64

// UnmarshalText parses a size, or a negative one.
func (l *ByteLimit) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	n, err := units.ParseSize(strings.TrimPrefix(s, "-"))
	if err != nil {
		return err
	}
	*l = ByteLimit(n)
	if strings.HasPrefix(s, "-") {
		*l = -*l
	}
	return nil
}

// MarshalText writes the limit as UnmarshalText reads it.
func (l ByteLimit) MarshalText() ([]byte, error) {
	if l < 0 {
		return []byte("-" + units.Size(-l).String()), nil
	}
	return []byte(units.Size(l).String()), nil
}

// CephConfig are Ceph client configuration options by name
// (client_oc_size, rados_osd_op_timeout, ...), given to libcephfs or
// ceph-fuse as name=value. In TOML each value is any scalar: a string, an
// integer, a float or a boolean.
type CephConfig map[string]string

// UnmarshalTOML reads a table of scalars.
func (c *CephConfig) UnmarshalTOML(v any) error {
	tab, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("got %T (%v), want a table of Ceph options", v, v)
	}
	out := make(CephConfig, len(tab))
	for k, x := range tab {
		s, err := cephValue(x)
		if err != nil {
			return fmt.Errorf("Ceph option %s: %v", k, err)
		}
		out[k] = s
	}
	*c = out
	return nil
}

// cephValue is a TOML scalar as Ceph reads it.
func cephValue(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", fmt.Errorf("got %T (%v), want a string, number or boolean", v, v)
}

// Check reports the first option whose name has none of the prefixes
// (sorted, so the answer is stable).
func (c CephConfig) Check(prefixes ...string) error {
	for _, k := range sortedKeys(c) {
		ok := false
		for _, p := range prefixes {
			ok = ok || strings.HasPrefix(k, p) && len(k) > len(p)
		}
		if !ok {
			return fmt.Errorf("unknown Ceph option %q (want a %s* option)", k, strings.Join(prefixes, "*, "))
		}
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
