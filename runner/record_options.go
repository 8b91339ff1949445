package runner

import (
	"maps"
	"strings"

	"github.com/BurntSushi/toml"

	"polytropon/runner/config"
)

// withResolvedOptions returns a copy of exp whose [options.<system>] tables
// state every option of each listed system, defaults included, so that
// the run's stored configuration says what ran (K's loop_direct_io, D's
// cache) even where the file said nothing. The keys the file wrote stay
// as written (prefixed groups such as cache_* are kept only that way).
func withResolvedOptions(exp *config.Experiment) *config.Experiment {
	out := *exp
	out.Options = map[string]map[string]any{}
	maps.Copy(out.Options, exp.Options)
	for _, s := range exp.Systems {
		v, err := exp.SystemOptions(s)
		if err != nil || v == nil {
			continue
		}
		var text strings.Builder
		tab := map[string]any{}
		if toml.NewEncoder(&text).Encode(v) != nil {
			continue
		}
		if _, err := toml.Decode(text.String(), &tab); err != nil {
			continue
		}
		maps.Copy(tab, exp.Options[s])
		out.Options[s] = tab
	}
	return &out
}
