package front

import "unsafe"

// uintptrOf is the address of a getcpu output word (the call writes it
// before RawSyscall returns, and the word outlives the call).
func uintptrOf(p *uint32) uintptr { return uintptr(unsafe.Pointer(p)) }
