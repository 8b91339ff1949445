package preload_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestAdaptiveWaitPrograms: under the adaptive wait (the library's
// await_adaptive, D's default), programs run by several threads of calls
// at once get their data right: four cp processes copy a file through the
// library at the same time (more callers than this host's cores), and the
// copies, read back from the writable branch, equal the source.
func TestAdaptiveWaitPrograms(t *testing.T) {
	p := startPool(t, poolOpts{args: []string{"-wait", "adaptive"}})
	src := make([]byte, 3<<20+123)
	for i := range src {
		src[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(p.Upper, "src"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	const copies = 4
	var wg sync.WaitGroup
	errs := make([]error, copies)
	for i := 0; i < copies; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := runErr(p, p.Root, 60*time.Second, "cp", "src", fmt.Sprintf("copy%d", i))
			if err != nil {
				errs[i] = fmt.Errorf("cp %d: %v\n%s", i, err, out)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < copies; i++ {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		got, err := os.ReadFile(filepath.Join(p.Upper, fmt.Sprintf("copy%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, src) {
			t.Errorf("copy %d: %d bytes differ from the %d-byte source", i, len(got), len(src))
		}
	}
}
