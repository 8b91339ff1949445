#include "textflag.h"

// func ntCopySteps(dst, src *byte, steps int)
TEXT ·ntCopySteps(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ steps+16(FP), CX
	// Stage 1, once: non-temporal prefetch of 10 source lines.
	PREFETCHNTA 0(SI)
	PREFETCHNTA 64(SI)
	PREFETCHNTA 128(SI)
	PREFETCHNTA 192(SI)
	PREFETCHNTA 256(SI)
	PREFETCHNTA 320(SI)
	PREFETCHNTA 384(SI)
	PREFETCHNTA 448(SI)
	PREFETCHNTA 512(SI)
	PREFETCHNTA 576(SI)

step:
	// Stage 2, per step: prefetch 2 lines ahead of the window (a prefetch
	// past the end of src never faults) and stream out 2 lines.
	PREFETCHNTA 640(SI)
	PREFETCHNTA 704(SI)
	MOVOU 0(SI), X0
	MOVOU 16(SI), X1
	MOVOU 32(SI), X2
	MOVOU 48(SI), X3
	MOVOU 64(SI), X4
	MOVOU 80(SI), X5
	MOVOU 96(SI), X6
	MOVOU 112(SI), X7
	MOVNTO X0, 0(DI)
	MOVNTO X1, 16(DI)
	MOVNTO X2, 32(DI)
	MOVNTO X3, 48(DI)
	MOVNTO X4, 64(DI)
	MOVNTO X5, 80(DI)
	MOVNTO X6, 96(DI)
	MOVNTO X7, 112(DI)
	ADDQ $128, SI
	ADDQ $128, DI
	DECQ CX
	JNZ  step
	SFENCE
	RET
