package main

import (
	"slices"
	"strings"
	"testing"
)

// TestIPCBenchSizes: copy sizes follow the project's one size rule
// (internal/units): IEC and one-letter suffixes are powers of 1024, SI
// ones powers of 1000; a size must be positive.
func TestIPCBenchSizes(t *testing.T) {
	for s, want := range map[string][]int{"4096": {4096}, "4KiB": {4096}, "4K, 4k": {4096, 4096}, "1MiB": {1 << 20}, "2G": {2 << 30},
		"7B": {7}, "4kB,1MB": {4000, 1e6}} {
		if got, err := ipcbenchInts("-sizes", s, byteSize); err != nil || !slices.Equal(got, want) {
			t.Errorf("-sizes %q: got %v, %v; want %v", s, got, err, want)
		}
	}
	for _, bad := range []string{"0", "-4K", "4X", "KiB", "1.1"} {
		if _, err := ipcbenchInts("-sizes", bad, byteSize); err == nil || !strings.Contains(err.Error(), "-sizes") {
			t.Errorf("-sizes %q: error %v, want one naming -sizes", bad, err)
		}
	}
}
