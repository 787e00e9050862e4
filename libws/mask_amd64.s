//go:build amd64

#include "textflag.h"

// func maskAVX2(b []byte, key uint32)
//
// Register use:
//	DI  current byte
//	CX  bytes left
//	AX  key as a 64-bit word, low byte = key byte for (DI)
//	Y0  key broadcast to 32 bytes
//
// The scalar head brings DI to a 32-byte boundary first, so no vector
// load or store ever splits a cache line. XOR is not idempotent, so the
// usual trick of an overlapping unaligned first vector cannot be used.
TEXT ·maskAVX2(SB), NOSPLIT, $0-28
	MOVQ b_base+0(FP), DI
	MOVQ b_len+8(FP), CX
	MOVL key+24(FP), AX
	MOVQ AX, BX
	SHLQ $32, BX
	ORQ  BX, AX

head_bytes:
	TESTQ CX, CX
	JZ    done
	TESTQ $7, DI
	JZ    head_words
	XORB  AL, (DI)
	// The 64-bit key repeats with period 4 bytes, so rotating it by one
	// byte moves the key offset on by one.
	RORQ  $8, AX
	INCQ  DI
	DECQ  CX
	JMP   head_bytes

head_words:
	CMPQ  CX, $8
	JB    tail_bytes
	TESTQ $31, DI
	JZ    vector
	XORQ  AX, (DI)
	ADDQ  $8, DI
	SUBQ  $8, CX
	JMP   head_words

vector:
	MOVQ         AX, X0
	VPBROADCASTQ X0, Y0
	CMPQ         CX, $128
	JB           loop32

	// Four independent load-xor-store chains per iteration keep both load
	// ports and the store port busy; the loop branch is paid per 128 bytes.
loop128:
	VPXOR   (DI), Y0, Y1
	VPXOR   32(DI), Y0, Y2
	VPXOR   64(DI), Y0, Y3
	VPXOR   96(DI), Y0, Y4
	VMOVDQA Y1, (DI)
	VMOVDQA Y2, 32(DI)
	VMOVDQA Y3, 64(DI)
	VMOVDQA Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $128, CX
	CMPQ    CX, $128
	JAE     loop128

loop32:
	CMPQ    CX, $32
	JB      vector_done
	VPXOR   (DI), Y0, Y1
	VMOVDQA Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $32, CX
	JMP     loop32

vector_done:
	// Leaving the upper YMM halves dirty makes later SSE code in the
	// runtime pay a state-transition penalty.
	VZEROUPPER

tail_words:
	CMPQ CX, $8
	JB   tail_bytes
	XORQ AX, (DI)
	ADDQ $8, DI
	SUBQ $8, CX
	JMP  tail_words

tail_bytes:
	TESTQ CX, CX
	JZ    done
	XORB  AL, (DI)
	RORQ  $8, AX
	INCQ  DI
	DECQ  CX
	JMP   tail_bytes

done:
	RET
