package shm

import (
	"bytes"
	"errors"
	"testing"
)

func TestRegionBounds(t *testing.T) {
	r := NewRegion(make([]byte, 64))
	const huge = ^uint64(0)
	for _, tc := range []struct {
		name   string
		off, n uint64
		ok     bool
	}{
		{"whole", 0, 64, true},
		{"empty at end", 64, 0, true},
		{"last byte", 63, 1, true},
		{"one past", 63, 2, false},
		{"offset past end", 65, 0, false},
		{"wrapping length", 8, huge, false},
		{"wrapping offset", huge, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := r.Slice(tc.off, tc.n)
			if tc.ok != (err == nil) {
				t.Fatalf("Slice(%d, %d) err = %v, want ok=%v", tc.off, tc.n, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrOutOfBounds) {
				t.Fatalf("error %v does not wrap ErrOutOfBounds", err)
			}
			if err == nil && uint64(len(b)) != tc.n {
				t.Fatalf("len = %d, want %d", len(b), tc.n)
			}
			if _, err := r.Sub(tc.off, tc.n); tc.ok != (err == nil) {
				t.Fatalf("Sub(%d, %d) err = %v, want ok=%v", tc.off, tc.n, err, tc.ok)
			}
		})
	}
}

func TestRegionWordsAndAtomics(t *testing.T) {
	buf := make([]byte, 64)
	r := NewRegion(buf)
	if err := r.PutUint64At(8, 0x1122334455667788); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.Uint64At(8); v != 0x1122334455667788 {
		t.Fatalf("Uint64At = %#x", v)
	}
	if v, _ := r.LoadUint64(8); v != 0x1122334455667788 {
		t.Fatalf("LoadUint64 = %#x", v)
	}
	if ok, _ := r.CompareAndSwapUint64(8, 1, 2); ok {
		t.Fatal("CAS with a wrong old value succeeded")
	}
	if ok, _ := r.CompareAndSwapUint64(8, 0x1122334455667788, 5); !ok {
		t.Fatal("CAS with the right old value failed")
	}
	if v, _ := r.AddUint64(8, 3); v != 8 {
		t.Fatalf("AddUint64 = %d, want 8", v)
	}
	if err := r.StoreUint32(60, 9); err != nil {
		t.Fatal(err)
	}
	if v, _ := r.AddUint32(60, 1); v != 10 {
		t.Fatalf("AddUint32 = %d", v)
	}
	if v, _ := r.Uint32At(60); v != 10 {
		t.Fatalf("Uint32At = %d", v)
	}
	if ok, _ := r.CompareAndSwapUint32(60, 10, 11); !ok {
		t.Fatal("CAS32 failed")
	}
	if _, err := r.LoadUint32(58); !errors.Is(err, ErrMisaligned) {
		t.Fatalf("LoadUint32 at offset 58: %v, want ErrMisaligned", err)
	}
	if _, err := r.LoadUint64(4); !errors.Is(err, ErrMisaligned) {
		t.Fatalf("LoadUint64 at offset 4: %v, want ErrMisaligned", err)
	}
	if _, err := r.LoadUint64(64); !errors.Is(err, ErrOutOfBounds) {
		t.Fatalf("LoadUint64 at the end: %v, want ErrOutOfBounds", err)
	}
	p, err := r.Uint64Ptr(8)
	if err != nil || *p != 8 {
		t.Fatalf("Uint64Ptr = %v, %v", p, err)
	}
	if *LowHalf(p) != 8 {
		t.Fatalf("LowHalf of 8 = %d", *LowHalf(p))
	}
}

// FuzzRegion feeds wild offsets and lengths to every accessor of a region
// that sits between two guard areas: each call either succeeds inside the
// region or returns an error; nothing panics and nothing outside changes.
func FuzzRegion(f *testing.F) {
	f.Add(uint64(0), uint64(8), uint64(7), uint8(0))
	f.Add(uint64(60), uint64(4), uint64(1), uint8(3))
	f.Add(^uint64(0), uint64(2), uint64(9), uint8(7))
	f.Add(uint64(64), ^uint64(0)-3, uint64(0), uint8(11))
	f.Fuzz(func(t *testing.T, off, n, v uint64, op uint8) {
		const guard, size = 64, 64
		buf := make([]byte, guard+size+guard)
		for i := range buf {
			buf[i] = 0xA5
		}
		r := NewRegion(buf[guard : guard+size])
		inside := off <= size && n <= size-off
		var err error
		switch op % 14 {
		case 0:
			var b []byte
			b, err = r.Slice(off, n)
			if err == nil {
				for i := range b {
					b[i] = 1
				}
			}
		case 1:
			_, err = r.Sub(off, n)
		case 2:
			_, err = r.Uint32At(off)
			inside = off <= size-4
		case 3:
			_, err = r.Uint64At(off)
			inside = off <= size-8
		case 4:
			err = r.PutUint32At(off, uint32(v))
			inside = off <= size-4
		case 5:
			err = r.PutUint64At(off, v)
			inside = off <= size-8
		case 6:
			_, err = r.LoadUint32(off)
			inside = off <= size-4
		case 7:
			err = r.StoreUint64(off, v)
			inside = off <= size-8
		case 8:
			_, err = r.AddUint32(off, uint32(v))
			inside = off <= size-4
		case 9:
			_, err = r.AddUint64(off, v)
			inside = off <= size-8
		case 10:
			_, err = r.CompareAndSwapUint32(off, 0xA5A5A5A5, uint32(v))
			inside = off <= size-4
		case 11:
			_, err = r.CompareAndSwapUint64(off, 0xA5A5A5A5A5A5A5A5, v)
			inside = off <= size-8
		case 12:
			err = r.StoreUint32(off, uint32(v))
			inside = off <= size-4
		case 13:
			_, err = r.LoadUint64(off)
			inside = off <= size-8
		}
		if !inside && err == nil {
			t.Fatalf("op %d at offset %d length %d outside a %d-byte region succeeded", op%14, off, n, size)
		}
		if err != nil && !errors.Is(err, ErrOutOfBounds) && !errors.Is(err, ErrMisaligned) {
			t.Fatalf("unexpected error kind: %v", err)
		}
		if inside && errors.Is(err, ErrOutOfBounds) {
			t.Fatalf("op %d at offset %d length %d inside the region failed: %v", op%14, off, n, err)
		}
		want := bytes.Repeat([]byte{0xA5}, guard)
		if !bytes.Equal(buf[:guard], want) || !bytes.Equal(buf[guard+size:], want) {
			t.Fatalf("op %d at offset %d length %d wrote outside the region", op%14, off, n)
		}
	})
}
