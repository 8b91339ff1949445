package wire

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"unicode"

	"polytropon/ipc/queue"
)

// CStruct names a layout struct for the C header.
type CStruct struct {
	Name  string // C struct tag, e.g. "poly_desc"
	Value any    // zero value of the Go struct
}

// CStructs lists the structures of the C header, in order.
func CStructs() []CStruct {
	return []CStruct{
		{"poly_header", Header{}},
		{"poly_queue_stats", QueueStats{}},
		{"poly_mount_entry", MountEntry{}},
		{"poly_client_slot", ClientSlot{}},
		{"poly_desc", Desc{}},
		{"poly_stat", Stat{}},
		{"poly_statfs", Statfs{}},
		{"poly_dirent64", Dirent64{}},
		{"poly_info", Info{}},
		{"poly_lock_info", LockInfo{}},
		{"poly_exec_header", ExecHeader{}},
		{"poly_exec_fd", ExecFd{}},
	}
}

// CConst is one #define of the C header.
type CConst struct {
	Name  string
	Value int64
}

// CConstants lists the constants of the C header, in order.
func CConstants() []CConst {
	cs := []CConst{
		{"POLY_MAGIC", Magic}, {"POLY_VERSION", Version},
		{"POLY_CACHE_LINE", CacheLine}, {"POLY_PAGE_SIZE", PageSize},
		{"POLY_MAX_CPUS", MaxCPUs}, {"POLY_MAX_QUEUES", MaxQueues},
		{"POLY_DESIGN_NAME_MAX", DesignNameMax}, {"POLY_MOUNT_PATH_MAX", MountPathMax},
		{"POLY_EXEC_BLOB_MAX", ExecBlobMax}, {"POLY_NUM_ARGS", NumArgs},
		{"POLY_PATH_MAX", PathMax}, {"POLY_DATA_AREA_OFFSET", DataAreaOffset},
		{"POLY_LIB_FD_BASE", LibFdBase},
		{"POLY_STATUS_STARTING", StatusStarting}, {"POLY_STATUS_READY", StatusReady},
		{"POLY_STATUS_STOPPING", StatusStopping},
		{"POLY_MOUNT_USED", MountUsed}, {"POLY_MOUNT_READONLY", MountReadOnly},
		{"POLY_MOUNT_SHARED", MountShared},
		{"POLY_CLIENT_FREE", ClientFree}, {"POLY_CLIENT_ACTIVE", ClientActive},
		{"POLY_CLIENT_FORK_PENDING", ClientForkPending}, {"POLY_CLIENT_EXEC_SAVED", ClientExecSaved},
		{"POLY_STATE_IDLE", StateIdle}, {"POLY_STATE_SUBMITTED", StateSubmitted},
		{"POLY_STATE_BUSY", StateBusy},
		{"POLY_FLAG_CMA", FlagCMA},
		{"POLY_COPY_SMC", CopySMC}, {"POLY_COPY_SMO", CopySMO}, {"POLY_COPY_CMA", CopyCMA},
		{"POLY_WAIT_SPIN", int64(queue.Spin)}, {"POLY_WAIT_SPIN_FUTEX", int64(queue.SpinFutex)},
		{"POLY_WAIT_FUTEX", int64(queue.Futex)}, {"POLY_WAIT_ADAPTIVE", int64(queue.Adaptive)},
		{"POLY_ADAPTIVE_FACTOR", queue.AdaptiveFactor}, {"POLY_ADAPTIVE_MIN_NS", int64(queue.AdaptiveMin)},
		{"POLY_ADAPTIVE_PREEMPT_GAP_NS", int64(queue.AdaptivePreemptGap)},
		{"POLY_ADAPTIVE_HOLD_NS", int64(queue.AdaptiveContendedHold)},
		{"POLY_ADAPTIVE_CLASSES", queue.AdaptiveClasses},
		{"POLY_FORK_PREPARE", ForkPrepare}, {"POLY_FORK_COMMIT", ForkCommit}, {"POLY_FORK_ABORT", ForkAbort},
		{"POLY_LEN_ARG", LenArg}, {"POLY_OFF_ARG", OffArg}, {"POLY_ADDR_ARG", AddrArg},
		{"POLY_DIRENT_NAME_OFFSET", DirentNameOffset}, {"POLY_EXEC_VERSION", ExecVersion},
		{"POLY_GETDENTS_DOTS", GetdentsDots},
		{"POLY_LOCK_GET", LockGet}, {"POLY_LOCK_SET", LockSet},
		{"POLY_LOCK_POSIX", LockPOSIX}, {"POLY_LOCK_OFD", LockOFD}, {"POLY_LOCK_FLOCK", LockFlock},
		{"POLY_HEARTBEAT_INTERVAL_NS", int64(HeartbeatInterval)},
		{"POLY_HEARTBEAT_STALE_NS", int64(HeartbeatStale)},
		{"POLY_HEARTBEAT_SILENT_NS", int64(HeartbeatSilent)},
	}
	for i, n := range callNames {
		cs = append(cs, CConst{"POLY_CALL_" + strings.ToUpper(n), int64(i)})
	}
	cs = append(cs, CConst{"POLY_NUM_CALLS", NumCalls})
	return cs
}

// snake turns a Go field name into a C one: QueueOfCPU -> queue_of_cpu.
func snake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prev := r[i-1]
			// An acronym's plural (CPUs) stays one word.
			nextLower := i+1 < len(r) && unicode.IsLower(r[i+1]) && !(r[i+1] == 's' && i+2 == len(r))
			if unicode.IsLower(prev) || unicode.IsDigit(prev) || (unicode.IsUpper(prev) && nextLower) {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToLower(c))
	}
	return b.String()
}

func cType(t reflect.Type) (string, string, error) {
	switch t.Kind() {
	case reflect.Uint8:
		return "uint8_t", "", nil
	case reflect.Uint16:
		return "uint16_t", "", nil
	case reflect.Uint32:
		return "uint32_t", "", nil
	case reflect.Int32:
		return "int32_t", "", nil
	case reflect.Uint64:
		return "uint64_t", "", nil
	case reflect.Int64:
		return "int64_t", "", nil
	case reflect.Array:
		el, _, err := cType(t.Elem())
		return el, fmt.Sprintf("[%d]", t.Len()), err
	}
	return "", "", fmt.Errorf("wire: no C type for %v", t)
}

// CField is one field of a C struct with its Go offset.
type CField struct {
	Name   string
	Offset uintptr
}

// CFields lists the C field names of a layout struct (padding fields
// included as _padN) with their offsets.
func CFields(v any) []CField {
	t := reflect.TypeOf(v)
	var out []CField
	pad := 0
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := snake(f.Name)
		if f.Name == "_" {
			name = fmt.Sprintf("_pad%d", pad)
			pad++
		}
		out = append(out, CField{name, f.Offset})
	}
	return out
}

// CHeader generates fs/preload/polytropon_wire.h from the Go definitions
// (go generate ./fs/wire). A test checks that the committed file equals
// this output and that gcc agrees on every size and offset.
func CHeader() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`/* Code generated by go generate ./fs/wire; DO NOT EDIT.
 *
 * polytropon_wire.h: the shared-memory protocol between the filesystem
 * service of a pool and its clients (package polytropon/fs/wire; read its
 * documentation for the request steps, the call arguments and the trust
 * rules). Every structure lives in one System V segment and is addressed by
 * byte offsets from the segment start; the _Static_asserts pin the layout
 * to the Go definitions.
 */
#ifndef POLYTROPON_WIRE_H
#define POLYTROPON_WIRE_H

#include <stddef.h>
#include <stdint.h>

`)
	for _, c := range CConstants() {
		if c.Name == "POLY_MAGIC" {
			fmt.Fprintf(&b, "#define %s 0x%xULL\n", c.Name, uint64(c.Value))
			continue
		}
		fmt.Fprintf(&b, "#define %s %d\n", c.Name, c.Value)
	}
	b.WriteString(`
/* A service fd: open-file index in the low 32 bits, generation above. */
#define POLY_SFD(index, gen) ((((uint64_t)(gen) & 0x7fffffffu) << 32) | (uint32_t)(index))

/* The RCQB request queue (package ipc/queue, rcqb_layout.go): byte offsets
 * inside one queue's memory (after its poly_queue_stats line), the fields
 * of a slot word, and the Go side's capacity bound and spin budget. */
`)
	for _, c := range queue.RCQBLayout() {
		if c.Name == "RCQB_MAGIC" {
			fmt.Fprintf(&b, "#define %s 0x%xULL\n", c.Name, c.Value)
			continue
		}
		fmt.Fprintf(&b, "#define %s %dULL\n", c.Name, c.Value)
	}
	b.WriteString("\n")
	for _, s := range CStructs() {
		t := reflect.TypeOf(s.Value)
		fmt.Fprintf(&b, "struct %s {\n", s.Name)
		for i, f := range CFields(s.Value) {
			ct, arr, err := cType(t.Field(i).Type)
			if err != nil {
				return nil, fmt.Errorf("%s.%s: %w", s.Name, f.Name, err)
			}
			fmt.Fprintf(&b, "\t%s %s%s;\n", ct, f.Name, arr)
		}
		fmt.Fprintf(&b, "};\n")
		fmt.Fprintf(&b, "_Static_assert(sizeof(struct %s) == %d, \"struct %s size\");\n", s.Name, t.Size(), s.Name)
		for _, f := range CFields(s.Value) {
			if strings.HasPrefix(f.Name, "_pad") {
				continue
			}
			fmt.Fprintf(&b, "_Static_assert(offsetof(struct %s, %s) == %d, \"%s.%s offset\");\n", s.Name, f.Name, f.Offset, s.Name, f.Name)
		}
		b.WriteString("\n")
	}
	b.WriteString(`/* poly_segment_key returns the System V key of a pool's service segment
 * (wire.SegmentKey in Go): FNV-1a 32 over pool, a NUL byte and
 * "polytropon-service", masked to 31 bits, 0 mapped to 1. */
static inline int poly_segment_key(const char *pool)
{
	static const char purpose[] = "polytropon-service";
	uint32_t h = 2166136261u;
	const char *p;
	size_t i;
	for (p = pool; *p; p++) {
		h ^= (uint8_t)*p;
		h *= 16777619u;
	}
	h ^= 0;
	h *= 16777619u;
	for (i = 0; i < sizeof(purpose) - 1; i++) {
		h ^= (uint8_t)purpose[i];
		h *= 16777619u;
	}
	h &= 0x7fffffffu;
	return h ? (int)h : 1;
}

#endif /* POLYTROPON_WIRE_H */
`)
	return b.Bytes(), nil
}
