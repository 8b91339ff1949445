#include "textflag.h"

// func Prefetch(p *uint64)
TEXT ·Prefetch(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	PREFETCHT0 (AX)
	RET

// func PrefetchW(p *uint64)
TEXT ·PrefetchW(SB), NOSPLIT, $0-8
	MOVQ p+0(FP), AX
	// PREFETCHW (AX): 0F 0D /1. The Go assembler has no mnemonic for it;
	// CPUs without it (Intel before Broadwell) run it as a NOP.
	BYTE $0x0F; BYTE $0x0D; BYTE $0x08
	RET
