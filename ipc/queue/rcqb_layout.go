package queue

// The RCQB memory layout (see RCQB in rcqb.go): byte offsets inside the
// queue's memory, native endian, and the fields of a slot word. These
// constants are the only definition: rcqb.go uses them, and RCQBLayout
// exports them to the C header of the preload library, whose enqueuer
// (fs/preload/src/rcqb.c) shares the memory with this package.
const (
	RCQBMagic     = 0x5243514231000002 // "RCQB1" + protocol version (2: skipped rounds)
	RCQBOffCap    = 8                  // capacity uint64
	RCQBOffFlags  = 16                 // flags uint32: RCQBFlagClosed, RCQBFlagBroken
	RCQBOffTail   = 64                 // tail uint64 (own cache line)
	RCQBOffHead   = 128                // head uint64 (own cache line)
	RCQBOffSlots  = 192                // capacity slots: +0 slot word uint64, +8 item uint64
	RCQBSlotBytes = 64                 // one cache line per slot

	RCQBFlagClosed = flagClosed
	RCQBFlagBroken = 2 // an abandoned ticket could not be recorded
)

// Slot word fields, from bit 0: waiters (1), state (2), round (25, modulo
// 2^25), enqueuer-gone mask (18), dequeuer-gone mask (18). The round sits
// in the low 32 bits, the futex word, so a sleeper whose expected value
// went stale always sees a difference (a waiter flag set again on a later
// round must not look unchanged).
const (
	RCQBSlotWaiters  = 1
	RCQBStateShift   = 1
	RCQBStateMask    = 3 << RCQBStateShift
	RCQBStateEmpty   = 0
	RCQBStateFilling = 1
	RCQBStateFull    = 2
	RCQBStateInvalid = 3 // no party sets it: a corrupted word
	RCQBRoundShift   = 3
	RCQBRoundBits    = 25
	RCQBRoundMask    = 1<<RCQBRoundBits - 1
	RCQBRoundHalf    = 1 << (RCQBRoundBits - 1)
	RCQBGoneBits     = 18
	RCQBGoneMask     = 1<<RCQBGoneBits - 1
	RCQBEGoneShift   = RCQBRoundShift + RCQBRoundBits // 28
	RCQBDGoneShift   = RCQBEGoneShift + RCQBGoneBits  // 46
)

// LayoutConst is one named constant of a shared-memory layout.
type LayoutConst struct {
	Name  string // the name C code uses
	Value uint64
}

// RCQBLayout lists the constants a C port of RCQB needs, under the names of
// the preload library's enqueuer: the layout above plus the bounds and
// defaults the Go side applies (capacity, spin budget). go generate
// ./fs/wire writes them into fs/preload/polytropon_wire.h.
func RCQBLayout() []LayoutConst {
	return []LayoutConst{
		{"RCQB_MAGIC", RCQBMagic},
		{"RCQB_OFF_CAP", RCQBOffCap}, {"RCQB_OFF_FLAGS", RCQBOffFlags},
		{"RCQB_OFF_TAIL", RCQBOffTail}, {"RCQB_OFF_HEAD", RCQBOffHead},
		{"RCQB_OFF_SLOTS", RCQBOffSlots}, {"RCQB_SLOT_BYTES", RCQBSlotBytes},
		{"RCQB_MAX_CAPACITY", maxCapacity},
		{"RCQB_FLAG_CLOSED", RCQBFlagClosed}, {"RCQB_FLAG_BROKEN", RCQBFlagBroken},
		{"RCQB_WAITERS", RCQBSlotWaiters},
		{"RCQB_STATE_SHIFT", RCQBStateShift}, {"RCQB_STATE_MASK", RCQBStateMask},
		{"RCQB_ST_EMPTY", RCQBStateEmpty}, {"RCQB_ST_FILLING", RCQBStateFilling},
		{"RCQB_ST_FULL", RCQBStateFull}, {"RCQB_ST_INVALID", RCQBStateInvalid},
		{"RCQB_ROUND_SHIFT", RCQBRoundShift}, {"RCQB_ROUND_BITS", RCQBRoundBits},
		{"RCQB_ROUND_MASK", RCQBRoundMask}, {"RCQB_ROUND_HALF", RCQBRoundHalf},
		{"RCQB_GONE_BITS", RCQBGoneBits}, {"RCQB_GONE_MASK", RCQBGoneMask},
		{"RCQB_EGONE_SHIFT", RCQBEGoneShift}, {"RCQB_DGONE_SHIFT", RCQBDGoneShift},
		{"RCQB_DEFAULT_SPIN_BUDGET", defaultSpinBudget},
	}
}
