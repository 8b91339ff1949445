package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// source keeps the file text so problems found after decoding can still be
// reported with their line.
type source struct {
	file string
	text string
}

// Load reads, decodes strictly, completes and validates an experiment file.
// The body is the host scale (LoadScale); the file's [scale.*] tables
// are checked too.
func Load(path string) (*Experiment, error) {
	return LoadScale(path, ScaleHost)
}

// Decode reads an experiment file strictly without defaults or validation:
// TOML syntax errors, wrong types and unknown keys are errors that name the
// file, line and key.
func Decode(path string) (*Experiment, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return Parse(path, data)
}

// Parse is Decode on data already read; file names it in errors.
func Parse(file string, data []byte) (*Experiment, error) {
	e := &Experiment{File: file, src: &source{file: file, text: string(data)}}
	md, err := toml.Decode(string(data), e)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalid, tomlErrorAt(file, err))
	}
	e.Run.warmupSet = md.IsDefined("run", "warmup")
	var errs []error
	unknown := map[string]bool{}
	for _, k := range md.Undecoded() {
		if isParamsSubkey(k) {
			continue // nested tables inside a workload's params; Decode checks them
		}
		unknown[k.String()] = true
		if len(k) > 1 && unknown[toml.Key(k[:len(k)-1]).String()] {
			continue // inside an unknown table already reported
		}
		errs = append(errs, fmt.Errorf("%s: unknown key %q", e.src.at(k), k.String()))
	}
	for i, w := range e.Workloads {
		if w == nil {
			w = &Workload{}
			e.Workloads[i] = w
		}
		w.index, w.exp = i, e
	}
	if len(errs) > 0 {
		return nil, joinInvalid(errs)
	}
	return e, nil
}

func isParamsSubkey(k toml.Key) bool {
	return len(k) > 3 && k[0] == "workload" && k[1] == "params"
}

// tomlErrorAt prefixes a decoder error with file:line. Syntax errors are
// toml.ParseErrors; type errors are plain errors "toml: line N (last key
// K): msg" that are taken apart the same way.
func tomlErrorAt(file string, err error) string {
	line, key, msg := splitTOMLError(err)
	if key != "" {
		msg = fmt.Sprintf("key %q: %s", key, msg)
	}
	if line > 0 {
		return fmt.Sprintf("%s:%d: %s", file, line, msg)
	}
	return fmt.Sprintf("%s: %s", file, msg)
}

var tomlErrRE = regexp.MustCompile(`^toml: (?:line (\d+) )?(?:\(last key "(.*?)"\))?:? ?(.*)$`)

// splitTOMLError returns the line, last key and message of a toml error.
func splitTOMLError(err error) (line int, key, msg string) {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		return pe.Position.Line, pe.LastKey, pe.Message
	}
	m := tomlErrRE.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, "", err.Error()
	}
	line, _ = strconv.Atoi(m[1])
	return line, m[2], m[3]
}

func joinInvalid(errs []error) error {
	return fmt.Errorf("%w:\n%w", ErrInvalid, errors.Join(errs...))
}

// errLocate is what the probe returns to make the decoder report the
// position of the key it was asked about.
var errLocate = errors.New("locate")

type probe struct{}

func (probe) UnmarshalTOML(any) error { return errLocate }

// line finds the line of a key in the file: it decodes the text again into
// a struct built so the only field is that key, of a type whose decoding
// fails, and reads the position from the decoder's error. toml's MetaData
// keeps key positions but does not export them. 0 if unknown.
func (s *source) line(k toml.Key) int {
	if s == nil || len(k) == 0 {
		return 0
	}
	t := reflect.TypeOf(probe{})
	for i := len(k) - 1; i >= 0; i-- {
		if strings.ContainsAny(k[i], "\"`\\") {
			return 0
		}
		t = reflect.StructOf([]reflect.StructField{{
			Name: "F", Type: t, Tag: reflect.StructTag(`toml:"` + k[i] + `"`),
		}})
		if i > 0 && tableArrays[k[i-1]] {
			t = reflect.SliceOf(t)
		}
	}
	v := reflect.New(t)
	_, err := toml.Decode(s.text, v.Interface())
	var pe toml.ParseError
	if errors.As(err, &pe) && errors.Is(err, errLocate) {
		return pe.Position.Line
	}
	if errors.As(err, &pe) && pe.Message == errLocate.Error() {
		return pe.Position.Line
	}
	return 0
}

// tableArrays are the keys that hold arrays of tables.
var tableArrays = map[string]bool{"workload": true, "sweep": true, "plot": true}

// at formats "file:line" for a key (or "file" when the line is unknown).
func (s *source) at(k toml.Key) string {
	if s == nil {
		return "(experiment)"
	}
	if n := s.line(k); n > 0 {
		return fmt.Sprintf("%s:%d", s.file, n)
	}
	return s.file
}

// Encode writes the experiment (normally after EnsureDefaults: the resolved
// config stored with the results) as TOML that Parse reads back strictly.
func (e *Experiment) Encode() ([]byte, error) {
	var buf strings.Builder
	fmt.Fprintf(&buf, "# Resolved experiment %q (defaults applied).\n", e.Name)
	if e.File != "" {
		fmt.Fprintf(&buf, "# Loaded from %s.\n", e.File)
	}
	if e.ScaleName != "" {
		fmt.Fprintf(&buf, "# At scale %q ([scale.*] tables below; the body already has the scale's values).\n", e.ScaleName)
	}
	if err := toml.NewEncoder(&buf).Encode(e); err != nil {
		return nil, fmt.Errorf("config: encode %s: %w", e.Name, err)
	}
	return []byte(buf.String()), nil
}
