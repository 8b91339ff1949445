package shm

import "hash/fnv"

// Key derives the System V key of a pool-scoped segment from the pool name
// and the segment's purpose (for example "queue/0" or "mounttable"). The
// same inputs give the same key in every process and every run; the key is
// positive and never IPC_PRIVATE (0). Different pools may well compute the
// same key: they live in different IPC namespaces, which keeps them apart.
func Key(pool, purpose string) int {
	h := fnv.New32a()
	h.Write([]byte(pool))
	h.Write([]byte{0})
	h.Write([]byte(purpose))
	k := int(h.Sum32() & 0x7fffffff)
	if k == 0 {
		k = 1
	}
	return k
}
