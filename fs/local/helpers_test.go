package local_test

import (
	"os"
	"testing"

	"polytropon/fs/local"
)

// mustNew creates root and outside and opens a service on root.
func mustNew(t *testing.T, root, outside string, opts ...local.Option) *local.Local {
	t.Helper()
	for _, d := range []string{root, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s, err := local.New(root, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
