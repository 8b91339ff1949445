package ipcbench

import (
	"fmt"
	"strings"
	"time"
)

// Param is one typed key=value component of a benchmark name.
type Param struct {
	Key   string
	Value string
}

// P builds a Param from a typed value; durations print in Go syntax, every
// character that would break a benchmark name ('/', space, '=') becomes '_'.
func P(key string, v any) Param {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case time.Duration:
		s = x.String()
	case fmt.Stringer:
		s = x.String()
	default:
		s = fmt.Sprint(x)
	}
	return Param{Key: key, Value: sanitize(s)}
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '/', ' ', '\t', '\n', '=':
			return '_'
		}
		return r
	}, s)
}

// BenchName joins a base name and parameters the benchfmt way:
// Queue/design=rcqb/wait=spin.
func BenchName(base string, ps ...Param) string {
	var b strings.Builder
	b.WriteString(base)
	for _, p := range ps {
		b.WriteByte('/')
		b.WriteString(p.Key)
		b.WriteByte('=')
		b.WriteString(p.Value)
	}
	return b.String()
}

// SubName joins parameters without a base name, for testing.B.Run:
// design=rcqb/wait=spin.
func SubName(ps ...Param) string {
	return strings.TrimPrefix(BenchName("", ps...), "/")
}
