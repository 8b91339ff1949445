package config

import (
	"fmt"
	"strconv"
	"strings"
)

// IntList is a list of integers that may be written as one integer:
// count = 4 or count = [1, 2, 4].
type IntList []int

// UnmarshalTOML accepts an integer or an array of integers.
func (l *IntList) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*l = IntList{int(x)}
		return nil
	case []any:
		out := make(IntList, 0, len(x))
		for i, e := range x {
			n, ok := e.(int64)
			if !ok {
				return fmt.Errorf("element %d is %T (%v), want an integer", i, e, e)
			}
			out = append(out, int(n))
		}
		*l = out
		return nil
	}
	return fmt.Errorf("got %T (%v), want an integer or an array of integers", v, v)
}

// MarshalTOML writes the list as an array.
func (l IntList) MarshalTOML() ([]byte, error) {
	parts := make([]string, len(l))
	for i, n := range l {
		parts[i] = strconv.Itoa(n)
	}
	return []byte("[" + strings.Join(parts, ", ") + "]"), nil
}

// PoolSelector picks the pools a workload runs in: "all", "first", "last",
// "rest" (all but the first) or explicit indexes [0, 2].
type PoolSelector struct {
	Keyword string // "all", "first", "last", "rest"; "" when Indexes is set
	Indexes []int
}

var poolKeywords = []string{"all", "first", "last", "rest"}

// UnmarshalTOML accepts a keyword string, an index or an array of indexes.
func (s *PoolSelector) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case string:
		for _, k := range poolKeywords {
			if x == k {
				*s = PoolSelector{Keyword: x}
				return nil
			}
		}
		return fmt.Errorf("bad pool selector %q: want one of %v or an array of pool indexes", x, poolKeywords)
	case int64:
		*s = PoolSelector{Indexes: []int{int(x)}}
		return nil
	case []any:
		var l IntList
		if err := l.UnmarshalTOML(x); err != nil {
			return fmt.Errorf("bad pool selector: %v", err)
		}
		*s = PoolSelector{Indexes: l}
		return nil
	}
	return fmt.Errorf("bad pool selector %v (%T): want one of %v or an array of pool indexes", v, v, poolKeywords)
}

// MarshalTOML writes the selector back in its file form.
func (s PoolSelector) MarshalTOML() ([]byte, error) {
	if s.Keyword != "" || s.Indexes == nil {
		return []byte(strconv.Quote(s.keyword())), nil
	}
	return IntList(s.Indexes).MarshalTOML()
}

func (s PoolSelector) keyword() string {
	if s.Keyword == "" && s.Indexes == nil {
		return "all"
	}
	return s.Keyword
}

// Select returns the pool indexes chosen among n pools (indexes >= n are
// dropped: a workload pinned to pool 3 does not run at points with 2 pools).
func (s PoolSelector) Select(n int) []int {
	var out []int
	switch s.keyword() {
	case "all":
		for i := range n {
			out = append(out, i)
		}
	case "first":
		if n > 0 {
			out = []int{0}
		}
	case "last":
		if n > 0 {
			out = []int{n - 1}
		}
	case "rest":
		for i := 1; i < n; i++ {
			out = append(out, i)
		}
	default:
		for _, i := range s.Indexes {
			if i >= 0 && i < n {
				out = append(out, i)
			}
		}
	}
	return out
}

// String is the selector in file form.
func (s PoolSelector) String() string {
	b, _ := s.MarshalTOML()
	return string(b)
}
