package copy

func init() {
	Register(Spec{Name: "plain", Copies: 1, New: func(Options) (Method, error) { return plainMethod{}, nil }})
}

// plainMethod is Go's copy (runtime memmove), the reference of every ratio.
type plainMethod struct{}

func (plainMethod) Copy(dst, src []byte) (int, error) { return copy(dst, src), nil }
