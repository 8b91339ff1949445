/* rcqb_enqueue.c KEY FIRST N WAIT: attaches System V segment KEY, whose
 * memory is one RCQB queue formatted by Go, and enqueues FIRST..FIRST+N-1
 * with the library's C port (src/rcqb.c). Exits non-zero on an error. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/shm.h>

#include "rcqb.h"

int main(int argc, char **argv)
{
	if (argc != 5)
		return 2;
	int id = shmget((key_t)atol(argv[1]), 0, 0);
	struct shmid_ds ds;
	if (id < 0 || shmctl(id, IPC_STAT, &ds) < 0) {
		perror("shmget");
		return 1;
	}
	uint8_t *mem = shmat(id, NULL, 0);
	if (mem == (void *)-1) {
		perror("shmat");
		return 1;
	}
	uint64_t first = strtoull(argv[2], NULL, 0), n = strtoull(argv[3], NULL, 0);
	uint32_t wait = (uint32_t)atoi(argv[4]);
	for (uint64_t i = 0; i < n; i++) {
		int r;
		while ((r = rcqb_enqueue(mem, ds.shm_segsz, first + i, wait, 0, 200000000)) == RCQB_ERR_TIMEOUT)
			; /* a slow consumer: the item was not enqueued, try again */
		if (r != RCQB_OK) {
			fprintf(stderr, "enqueue %llu: error %d\n", (unsigned long long)(first + i), r);
			return 1;
		}
	}
	return 0;
}
