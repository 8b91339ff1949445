package copy

func init() {
	plainStage := func(dst, src []byte) int { return copy(dst, src) }
	Register(Spec{Name: "SMC", Copies: 2, NeedsStaging: true, Stage: plainStage, New: func(o Options) (Method, error) {
		return newStaged(o, plainStage)
	}})
	Register(Spec{Name: "SMO", Copies: 2, NeedsStaging: true, Stage: NonTemporal, New: func(o Options) (Method, error) {
		return newStaged(o, NonTemporal)
	}})
}

// staged moves data through a shared staging buffer: the front driver's
// copy into the buffer, then the back driver's copy out of it.
type staged struct {
	buf  []byte
	move func(dst, src []byte) int
}

func newStaged(o Options, move func(dst, src []byte) int) (Method, error) {
	if len(o.Staging) == 0 {
		return nil, ErrNoStaging
	}
	return &staged{buf: o.Staging, move: move}, nil
}

func (s *staged) Copy(dst, src []byte) (int, error) {
	n := min(len(dst), len(src))
	for off := 0; off < n; off += len(s.buf) {
		chunk := min(len(s.buf), n-off)
		s.move(s.buf[:chunk], src[off:off+chunk])
		s.move(dst[off:off+chunk], s.buf[:chunk])
	}
	return n, nil
}
