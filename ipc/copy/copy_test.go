package copy

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"
)

func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// checkCopy copies src[soff:soff+n] into dst[doff:] with m and checks the
// copied bytes and that nothing outside the target range changed.
func checkCopy(t *testing.T, m Method, n, soff, doff int) {
	t.Helper()
	src := pattern(soff+n+64, uint64(n)*131+uint64(soff))
	dst := bytes.Repeat([]byte{0xA5}, doff+n+64)
	want := bytes.Clone(dst)
	copy(want[doff:], src[soff:soff+n])
	got, err := m.Copy(dst[doff:doff+n], src[soff:soff+n])
	if err != nil {
		t.Fatalf("n=%d soff=%d doff=%d: %v", n, soff, doff, err)
	}
	if got != n {
		t.Fatalf("n=%d soff=%d doff=%d: copied %d, want %d", n, soff, doff, got, n)
	}
	if !bytes.Equal(dst, want) {
		i := 0
		for i < len(dst) && dst[i] == want[i] {
			i++
		}
		t.Fatalf("n=%d soff=%d doff=%d: first wrong byte at %d (target starts at %d)", n, soff, doff, i, doff)
	}
}

func allMethods(t *testing.T, staging int) map[string]Method {
	t.Helper()
	out := map[string]Method{}
	for _, s := range Specs() {
		m, err := s.New(Options{Staging: make([]byte, staging)})
		if err != nil {
			t.Fatalf("%s: %v", s.Name, err)
		}
		out[s.Name] = m
	}
	for _, want := range []string{"plain", "SMC", "SMO", "CMA"} {
		if out[want] == nil {
			t.Fatalf("method %s not registered (have %v)", want, Specs())
		}
	}
	return out
}

func TestMethodsEverySizeAndOffset(t *testing.T) {
	// Staging of 1000 bytes: odd, so chunking is exercised too.
	for name, m := range allMethods(t, 1000) {
		t.Run(name, func(t *testing.T) {
			for n := 0; n <= 4096+130; n++ {
				step := 1
				if n > 300 {
					step = 7 // every offset pair for the short ones, a sweep above
				}
				if n%step != 0 && n != 4096 {
					continue
				}
				for _, off := range [][2]int{{0, 0}, {1, 0}, {0, 3}, {5, 17}, {63, 1}, {16, 48}} {
					checkCopy(t, m, n, off[0], off[1])
				}
			}
		})
	}
}

func TestMethods16MiB(t *testing.T) {
	for name, m := range allMethods(t, 1<<20) {
		t.Run(name, func(t *testing.T) {
			checkCopy(t, m, 16<<20, 0, 0)
			checkCopy(t, m, 16<<20+3, 9, 33)
		})
	}
}

func TestCopyReturnsMinLength(t *testing.T) {
	for name, m := range allMethods(t, 4096) {
		src := pattern(5000, 1)
		dst := make([]byte, 3000)
		n, err := m.Copy(dst, src)
		if err != nil || n != 3000 || !bytes.Equal(dst, src[:3000]) {
			t.Errorf("%s: Copy(3000-byte dst, 5000-byte src) = %d, %v; want 3000 and the prefix", name, n, err)
		}
	}
}

func TestStagingRequired(t *testing.T) {
	for _, name := range []string{"SMC", "SMO"} {
		if _, err := New(name, Options{}); !errors.Is(err, ErrNoStaging) {
			t.Errorf("New(%s) without staging: err %v, want ErrNoStaging", name, err)
		}
	}
	if _, err := New("nope", Options{}); err == nil {
		t.Error("New(nope): no error for an unknown method")
	}
}

func TestCMABadAddress(t *testing.T) {
	dst := make([]byte, 64)
	if _, err := ReadFrom(0x7fffffff, dst, 0x1000); err == nil {
		t.Error("ReadFrom a nonexistent pid: no error")
	}
}

func FuzzSMO(f *testing.F) {
	f.Add(uint16(0), uint8(0), uint8(0), uint64(1))
	f.Add(uint16(255), uint8(1), uint8(63), uint64(2))
	f.Add(uint16(4099), uint8(17), uint8(5), uint64(3))
	f.Add(uint16(65535), uint8(64), uint8(0), uint64(4))
	f.Fuzz(func(t *testing.T, n uint16, soff, doff uint8, seed uint64) {
		src := pattern(int(n)+int(soff), seed)
		dst := make([]byte, int(n)+int(doff)+8)
		want := bytes.Clone(dst)
		copy(want[doff:], src[soff:])
		if got := NonTemporal(dst[doff:int(doff)+int(n)], src[soff:]); got != int(n) {
			t.Fatalf("NonTemporal copied %d, want %d", got, n)
		}
		if !bytes.Equal(dst, want) {
			t.Fatalf("n=%d soff=%d doff=%d: result differs from copy", n, soff, doff)
		}
	})
}
