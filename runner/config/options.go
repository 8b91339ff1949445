package config

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// NewSystemOptions, when set, returns a fresh value of a system's options
// struct (a pointer, its defaults filled in) for the system's
// [options.<system>] table, or nil when the system takes no options. The
// runner sets it to systems.NewOptions (config does not import systems,
// which pulls in the whole pool and filesystem machinery); without it the
// tables are kept raw and SystemOptions returns nil.
var NewSystemOptions func(system string) any

// SystemOptions decodes the system's [options.<system>] table strictly
// into a fresh value of the system's options struct (NewSystemOptions)
// over its defaults, and validates it when it has a Validate() error
// method: the typed options the runner hands the system
// (systems.Request.Options). A system without a table gets its defaults.
// Each call decodes anew, so callers may keep and change what they get.
//
// The options struct names its keys with toml tags (embedded structs
// add their keys to the table) and may gather prefixed keys in one
// field, tagged `toml:"-" prefix:"p1 p2"`: a struct field takes the keys
// "<prefix><key>" as its own keys (cache_capacity is the cache settings'
// capacity); a map field takes every key with one of the prefixes whole
// (client_oc_size). A key no field takes is an error naming the file, the
// line, the key and the keys the system has.
func (e *Experiment) SystemOptions(system string) (any, error) {
	v, err := e.decodeOptions(system)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return v, nil
}

func (e *Experiment) decodeOptions(system string) (any, error) {
	if NewSystemOptions == nil {
		return nil, nil
	}
	tab := e.Options[system]
	where := func(k ...string) string { return e.src.at(append(toml.Key{"options", system}, k...)) }
	v := NewSystemOptions(system)
	if v == nil {
		for _, k := range sortedKeys(tab) {
			return nil, fmt.Errorf("%s: options.%s.%s: system %q takes no options", where(k), system, k, system)
		}
		return nil, nil
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("%s: options.%s: the options of system %q are a %T, not a pointer to a struct", where(), system, system, v)
	}
	layout := optionLayout(rv.Elem())
	// Each part of the table goes to the field that takes it.
	parts := make([]map[string]any, 1+len(layout.groups))
	for i := range parts {
		parts[i] = map[string]any{}
	}
	var errs []error
	for _, k := range sortedKeys(tab) {
		switch g, sub := layout.group(k); {
		case slices.Contains(layout.keys, k):
			parts[0][k] = tab[k]
		case g >= 0:
			parts[1+g][sub] = tab[k]
		default:
			errs = append(errs, fmt.Errorf("%s: options.%s.%s: unknown option of system %q (have %s)", where(k), system, k, system, strings.Join(layout.names(), ", ")))
		}
	}
	for i, part := range parts {
		if len(part) == 0 {
			continue // a group's field keeps its default
		}
		into, name := v, func(k string) string { return k } // the key as the file has it
		if i > 0 {
			g := layout.groups[i-1]
			into = g.field.Addr().Interface()
			if g.strip {
				name = func(k string) string { return g.prefixes[0] + k }
			}
		}
		undecoded, err := decodeTable(part, into)
		var te *tableError
		switch {
		case errors.As(err, &te) && te.key != "":
			k := name(te.key)
			errs = append(errs, fmt.Errorf("%s: options.%s.%s: %s", where(strings.Split(k, ".")...), system, k, te.msg))
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: options.%s: %v", where(), system, err))
		}
		for _, u := range undecoded {
			k := name(u.String())
			errs = append(errs, fmt.Errorf("%s: options.%s.%s: unknown option of system %q (have %s)", where(k), system, k, system, strings.Join(layout.names(), ", ")))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return nil, fmt.Errorf("%s: options.%s: system %q: %v", where(), system, system, err)
		}
	}
	return v, nil
}

// optionFields are the keys of an options struct and its prefix groups.
type optionFields struct {
	keys   []string
	groups []optionGroup
}

// optionGroup is a field that takes the keys with one of its prefixes.
type optionGroup struct {
	prefixes []string
	strip    bool          // a struct: its keys are the rest of the key
	field    reflect.Value // addressable
	keys     []string      // a struct's own keys
}

// optionLayout reads the toml and prefix tags of the struct s
// (addressable), embedded structs included.
func optionLayout(s reflect.Value) optionFields {
	var out optionFields
	t := s.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		switch {
		case f.Tag.Get("prefix") != "":
			g := optionGroup{prefixes: strings.Fields(f.Tag.Get("prefix")), field: s.Field(i)}
			if f.Type.Kind() == reflect.Struct {
				g.strip, g.keys = true, optionLayout(s.Field(i)).keys
			}
			out.groups = append(out.groups, g)
		case name == "-":
		case f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct:
			sub := optionLayout(s.Field(i))
			out.keys = append(out.keys, sub.keys...)
			out.groups = append(out.groups, sub.groups...)
		case name == "":
			out.keys = append(out.keys, f.Name)
		default:
			out.keys = append(out.keys, name)
		}
	}
	return out
}

// group finds the group that takes key k, and the key within it.
func (o optionFields) group(k string) (int, string) {
	for i, g := range o.groups {
		for _, p := range g.prefixes {
			if rest, ok := strings.CutPrefix(k, p); ok && rest != "" {
				if g.strip {
					return i, rest
				}
				return i, k
			}
		}
	}
	return -1, ""
}

// names lists the keys of the table, for error messages.
func (o optionFields) names() []string {
	out := slices.Clone(o.keys)
	for _, g := range o.groups {
		for _, p := range g.prefixes {
			if !g.strip {
				out = append(out, p+"*")
				continue
			}
			for _, k := range g.keys {
				out = append(out, p+k)
			}
		}
	}
	return out
}

// tableError is a value of a table that does not decode; key is its path
// in the table ("a.b"), "" when the decoder does not say.
type tableError struct{ key, msg string }

func (e *tableError) Error() string { return e.key + ": " + e.msg }

// decodeTable decodes a table that is already parsed (a workload's
// params, a system's options) strictly into v, by encoding it again and
// decoding the text: a value of the wrong type is a *tableError naming its
// key, and the keys v has no field for are returned.
func decodeTable(tab map[string]any, v any) ([]toml.Key, error) {
	var buf strings.Builder
	if err := toml.NewEncoder(&buf).Encode(tab); err != nil {
		return nil, err
	}
	md, err := toml.Decode(buf.String(), v)
	if err != nil {
		_, last, msg := splitTOMLError(err)
		return nil, &tableError{key: last, msg: msg}
	}
	return md.Undecoded(), nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
