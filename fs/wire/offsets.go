package wire

import (
	"fmt"
	"reflect"
)

// fieldOffset returns the byte offset of the named field of struct value v,
// taken with reflect so that the accessors cannot drift from the structs.
func fieldOffset(v any, name string) uint64 {
	f, ok := reflect.TypeOf(v).FieldByName(name)
	if !ok {
		panic(fmt.Sprintf("wire: %T has no field %s", v, name))
	}
	return uint64(f.Offset)
}

func sizeOf(v any) uint64 { return uint64(reflect.TypeOf(v).Size()) }

// Sizes of the shared structures.
var (
	HeaderSize     = sizeOf(Header{})
	QueueStatsSize = sizeOf(QueueStats{})
	MountEntrySize = sizeOf(MountEntry{})
	ClientSlotSize = sizeOf(ClientSlot{})
	DescSize       = sizeOf(Desc{})
	StatSize       = sizeOf(Stat{})
	StatfsSize     = sizeOf(Statfs{})
	InfoSize       = sizeOf(Info{})
	LockInfoSize   = sizeOf(LockInfo{})
	ExecHeaderSize = sizeOf(ExecHeader{})
	ExecFdSize     = sizeOf(ExecFd{})
)

// Byte offsets of the fields the drivers touch.
var (
	eFd      = int(fieldOffset(ExecFd{}, "Fd"))
	eFlags   = int(fieldOffset(ExecFd{}, "Flags"))
	eSfd     = int(fieldOffset(ExecFd{}, "Sfd"))
	ePathLen = int(fieldOffset(ExecFd{}, "PathLen"))
	eInst    = int(fieldOffset(ExecFd{}, "Inst"))

	hMagic         = fieldOffset(Header{}, "Magic")
	hVersion       = fieldOffset(Header{}, "Version")
	hHeaderSize    = fieldOffset(Header{}, "HeaderSize")
	hSegmentSize   = fieldOffset(Header{}, "SegmentSize")
	hServicePid    = fieldOffset(Header{}, "ServicePid")
	hStatus        = fieldOffset(Header{}, "Status")
	hHeartbeat     = fieldOffset(Header{}, "Heartbeat")
	hStartTime     = fieldOffset(Header{}, "StartTime")
	hQueueDesign   = fieldOffset(Header{}, "QueueDesign")
	hQueueWait     = fieldOffset(Header{}, "QueueWait")
	hSpinMicros    = fieldOffset(Header{}, "SpinMicros")
	hCopyMethod    = fieldOffset(Header{}, "CopyMethod")
	hNumQueues     = fieldOffset(Header{}, "NumQueues")
	hQueueCapacity = fieldOffset(Header{}, "QueueCapacity")
	hQueueStride   = fieldOffset(Header{}, "QueueStride")
	hQueuesOff     = fieldOffset(Header{}, "QueuesOff")
	hMountsOff     = fieldOffset(Header{}, "MountsOff")
	hNumMounts     = fieldOffset(Header{}, "NumMounts")
	hMountStride   = fieldOffset(Header{}, "MountStride")
	hMountGen      = fieldOffset(Header{}, "MountGen")
	hClientsOff    = fieldOffset(Header{}, "ClientsOff")
	hNumClients    = fieldOffset(Header{}, "NumClients")
	hClientStride  = fieldOffset(Header{}, "ClientStride")
	hBuffersOff    = fieldOffset(Header{}, "BuffersOff")
	hNumBuffers    = fieldOffset(Header{}, "NumBuffers")
	hBufferStride  = fieldOffset(Header{}, "BufferStride")
	hDataSize      = fieldOffset(Header{}, "DataSize")
	hNumCPUs       = fieldOffset(Header{}, "NumCPUs")
	hServiceID     = fieldOffset(Header{}, "ServiceID")
	hQueueOfCPU    = fieldOffset(Header{}, "QueueOfCPU")

	qThreads = fieldOffset(QueueStats{}, "Threads")
	qGen     = fieldOffset(QueueStats{}, "Gen")
	qAwake   = fieldOffset(QueueStats{}, "Awake")

	mFlags    = fieldOffset(MountEntry{}, "Flags")
	mService  = fieldOffset(MountEntry{}, "Service")
	mInstance = fieldOffset(MountEntry{}, "Instance")
	mPathLen  = fieldOffset(MountEntry{}, "PathLen")
	mPath     = fieldOffset(MountEntry{}, "Path")

	cState   = fieldOffset(ClientSlot{}, "State")
	cPid     = fieldOffset(ClientSlot{}, "Pid")
	cGen     = fieldOffset(ClientSlot{}, "Gen")
	cExecLen = fieldOffset(ClientSlot{}, "ExecLen")
	cToken   = fieldOffset(ClientSlot{}, "Token")
	cExec    = fieldOffset(ClientSlot{}, "Exec")

	dState    = fieldOffset(Desc{}, "State")
	dQueue    = fieldOffset(Desc{}, "Queue")
	dWaiter   = fieldOffset(Desc{}, "Waiter")
	dDone     = fieldOffset(Desc{}, "Done")
	dOwner    = fieldOffset(Desc{}, "Owner")
	dTid      = fieldOffset(Desc{}, "Tid")
	dRet      = fieldOffset(Desc{}, "Ret")
	dSeq      = fieldOffset(Desc{}, "Seq")
	dCall     = fieldOffset(Desc{}, "Call")
	dFlags    = fieldOffset(Desc{}, "Flags")
	dClient   = fieldOffset(Desc{}, "Client")
	dInstance = fieldOffset(Desc{}, "Instance")
	dUid      = fieldOffset(Desc{}, "Uid")
	dGid      = fieldOffset(Desc{}, "Gid")
	dArgs     = fieldOffset(Desc{}, "Args")
	dPathOff  = fieldOffset(Desc{}, "PathOff")
	dPathLen  = fieldOffset(Desc{}, "PathLen")
	dPath2Off = fieldOffset(Desc{}, "Path2Off")
	dPath2Len = fieldOffset(Desc{}, "Path2Len")
	dDataOff  = fieldOffset(Desc{}, "DataOff")
	dDataLen  = fieldOffset(Desc{}, "DataLen")
	dOutOff   = fieldOffset(Desc{}, "OutOff")
	dOutLen   = fieldOffset(Desc{}, "OutLen")
)
