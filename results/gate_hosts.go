package results

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// hostDiff lists what makes two runs' hosts incomparable: the machine
// (hostname, CPU, cores, memory), the kernel, the cgroup mode, and the
// versions of tools recorded by both. The commit and Go version are what
// a comparison compares, so they may differ.
func hostDiff(b, n Host) []string {
	var out []string
	check := func(what string, bv, nv any) {
		if !reflect.DeepEqual(bv, nv) {
			out = append(out, fmt.Sprintf("%s: base %v, new %v", what, bv, nv))
		}
	}
	check("hostname", b.Hostname, n.Hostname)
	check("kernel", b.Kernel, n.Kernel)
	check("cgroup mode", b.CgroupMode, n.CgroupMode)
	check("cpu", b.CPUModel, n.CPUModel)
	check("cores", b.Cores, n.Cores)
	check("memory", b.MemoryBytes, n.MemoryBytes)
	for _, tool := range slices.Sorted(maps.Keys(b.ToolVersions)) {
		if nv, ok := n.ToolVersions[tool]; ok {
			check(tool+" version", b.ToolVersions[tool], nv)
		}
	}
	return out
}

// configDiff lists the keys in which two runs' resolved experiments
// (config.toml) differ. Comments (the file the experiment was loaded
// from) do not count; files that are not TOML are compared as text.
func configDiff(b, n []byte) []string {
	var bm, nm map[string]any
	if _, err := toml.Decode(string(b), &bm); err != nil {
		return textDiff(b, n)
	}
	if _, err := toml.Decode(string(n), &nm); err != nil {
		return textDiff(b, n)
	}
	var keys []string
	diffValue("", bm, nm, &keys)
	if len(keys) == 0 {
		return nil
	}
	const most = 8
	more := ""
	if len(keys) > most {
		more = fmt.Sprintf(" and %d more", len(keys)-most)
		keys = keys[:most]
	}
	return []string{"config: " + strings.Join(keys, ", ") + more}
}

func textDiff(b, n []byte) []string {
	strip := func(x []byte) []byte {
		var out [][]byte
		for _, l := range bytes.Split(x, []byte("\n")) {
			if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
				out = append(out, l)
			}
		}
		return bytes.Join(out, []byte("\n"))
	}
	if bytes.Equal(strip(b), strip(n)) {
		return nil
	}
	return []string{"config: the runs' config.toml differ"}
}

// diffValue appends the key paths at which b and n differ.
func diffValue(path string, b, n any, out *[]string) {
	bm, bok := b.(map[string]any)
	nm, nok := n.(map[string]any)
	if !bok || !nok {
		if !reflect.DeepEqual(b, n) {
			*out = append(*out, path)
		}
		return
	}
	keys := map[string]bool{}
	for k := range bm {
		keys[k] = true
	}
	for k := range nm {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		p := k
		if path != "" {
			p = path + "." + k
		}
		diffValue(p, bm[k], nm[k], out)
	}
}
