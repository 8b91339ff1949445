package registry

import (
	"errors"
	"strings"
	"testing"
)

func TestRegistry(t *testing.T) {
	r := New[int]("queue", "design")
	r.Register("rcqb", 1)
	r.Register("bq", 2)
	if v, err := r.Lookup("rcqb"); err != nil || v != 1 {
		t.Errorf("Lookup(rcqb) = %d, %v", v, err)
	}
	_, err := r.Lookup("nosuch")
	if !errors.Is(err, ErrUnknown) || err.Error() != `queue: unknown design "nosuch" (have [bq rcqb])` {
		t.Errorf("Lookup(nosuch) = %v", err)
	}
	if got := r.Names(); strings.Join(got, ",") != "bq,rcqb" {
		t.Errorf("Names = %v", got)
	}
	if got := r.Values(); len(got) != 2 || got[0] != 2 || got[1] != 1 {
		t.Errorf("Values = %v, want [2 1] (name order)", got)
	}
}

func TestRegisterPanics(t *testing.T) {
	r := New[int]("metrics", "collector")
	r.Register("cpu", 1)
	for name, f := range map[string]func(){
		"duplicate": func() { r.Register("cpu", 2) },
		"empty":     func() { r.Register("", 3) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
