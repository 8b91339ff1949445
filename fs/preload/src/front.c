/*
 * front.c: the front driver, behaving like fs/front: attach the pool's
 * System V segment (found through $POLYTROPON_SHM_KEY or $POLYTROPON_POOL),
 * claim request buffers by CAS on Desc.owner (kept parked, owner -pid, on a
 * private free list of this process, where another process that finds no
 * free buffer may take them over), fill the descriptor, enqueue the buffer index on the
 * queue of the caller's core group, spin then sleep on the state futex with
 * a timeout and a liveness check (status, heartbeat, service pid), read Ret
 * and release the buffer to the private list. A dead service turns every
 * call into EIO within about POLY_HEARTBEAT_STALE_NS, never into a hang.
 */
#include "poly.h"
#include "rcqb.h"

#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ipc.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int poly_active;
int poly_dead;
struct poly_header *poly_hdr;
uint8_t *poly_base;
uint32_t poly_data_size;
uint32_t poly_copy;
uint32_t poly_slot;
int poly_registered;
uint32_t poly_uid, poly_gid;

static uint64_t seg_size;
static uint32_t nbufs;
static int64_t spin_ns;
static pid_t my_pid;

static pthread_mutex_t buf_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t buf_cv = PTHREAD_COND_INITIALIZER;
static uint32_t *free_list; /* parked by this process */
static uint32_t nfree;
static uint32_t nheld; /* buffers this process holds or parked */
static uint32_t in_use;
static uint32_t next_claim;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static __thread pid_t tls_tid;
static __thread pid_t tls_tid_pid;

void *poly_next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p)
		p = dlsym(RTLD_DEFAULT, name);
	return p;
}

void poly_debug(const char *fmt, ...)
{
	static int on = -1;
	if (on < 0)
		on = getenv("POLYTROPON_DEBUG") != NULL;
	if (!on)
		return;
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof buf - 1)
		n = sizeof buf - 1;
	poly_sys(SYS_write, 2, (long)buf, n, 0, 0, 0);
}

static inline struct poly_desc *desc_of(uint32_t i)
{
	return (struct poly_desc *)(poly_base + poly_hdr->buffers_off + (uint64_t)i * poly_hdr->buffer_stride);
}

static inline uint8_t *data_of(uint32_t i)
{
	return (uint8_t *)desc_of(i) + POLY_DATA_AREA_OFFSET;
}

/* check_layout validates the header against the segment size: nothing in
 * shared memory is trusted. */
static int check_layout(void)
{
	struct poly_header *h = poly_hdr;
	if (__atomic_load_n(&h->magic, __ATOMIC_SEQ_CST) != POLY_MAGIC || h->version != POLY_VERSION ||
	    h->header_size != sizeof(struct poly_header))
		return -1;
	if (strncmp((const char *)h->queue_design, "rcqb", POLY_DESIGN_NAME_MAX) != 0) {
		poly_debug("polytropon: queue design %.16s is not supported by the preload library (rcqb only)\n",
			   h->queue_design);
		return -1;
	}
	if (h->segment_size > seg_size || h->num_queues == 0 || h->num_queues > POLY_MAX_QUEUES ||
	    h->num_buffers == 0 || h->num_buffers > 65536 || h->data_size < POLY_PAGE_SIZE ||
	    h->mount_stride != sizeof(struct poly_mount_entry) || h->client_stride != sizeof(struct poly_client_slot) ||
	    h->buffer_stride != POLY_DATA_AREA_OFFSET + (uint64_t)h->data_size || h->num_cpus > POLY_MAX_CPUS ||
	    h->queue_stride < sizeof(struct poly_queue_stats) + RCQB_OFF_SLOTS)
		return -1;
	if (h->queues_off + (uint64_t)h->num_queues * h->queue_stride > seg_size ||
	    h->mounts_off + (uint64_t)h->num_mounts * h->mount_stride > seg_size ||
	    h->clients_off + (uint64_t)h->num_clients * h->client_stride > seg_size ||
	    h->buffers_off + (uint64_t)h->num_buffers * h->buffer_stride > seg_size)
		return -1;
	return 0;
}

/* poly_attach attaches the segment named by the environment. It returns 0
 * when the library is active, -1 when it stays inert. */
int poly_attach(void)
{
	const char *k = getenv("POLYTROPON_SHM_KEY");
	const char *pool = getenv("POLYTROPON_POOL");
	key_t key;
	if (k && *k)
		key = (key_t)strtol(k, NULL, 0);
	else if (pool && *pool)
		key = poly_segment_key(pool);
	else
		return -1;
	int id = shmget(key, 0, 0);
	if (id < 0) {
		poly_debug("polytropon: no service segment under key %#x: %s\n", key, strerror(errno));
		return -1;
	}
	struct shmid_ds ds;
	if (shmctl(id, IPC_STAT, &ds) < 0)
		return -1;
	void *p = shmat(id, NULL, 0);
	if (p == (void *)-1)
		return -1;
	poly_base = p;
	poly_hdr = p;
	seg_size = ds.shm_segsz;
	if (seg_size < sizeof(struct poly_header) || check_layout() < 0) {
		poly_debug("polytropon: segment under key %#x has a bad layout\n", key);
		shmdt(p);
		poly_base = NULL;
		poly_hdr = NULL;
		return -1;
	}
	/* A starting service: wait for it (as front.Attach does), 5s. */
	uint64_t deadline = poly_now() + 5000000000ull;
	while (__atomic_load_n(&poly_hdr->status, __ATOMIC_SEQ_CST) == POLY_STATUS_STARTING && poly_now() < deadline)
		usleep(5000);
	nbufs = poly_hdr->num_buffers;
	poly_data_size = poly_hdr->data_size;
	poly_copy = poly_hdr->copy_method;
	const char *cp = getenv("POLYTROPON_COPY");
	if (cp && (!strcasecmp(cp, "cma")))
		poly_copy = POLY_COPY_CMA;
	else if (cp && (!strcasecmp(cp, "smc") || !strcasecmp(cp, "smo")))
		poly_copy = POLY_COPY_SMC;
	spin_ns = (int64_t)poly_hdr->spin_micros * 1000;
	if (spin_ns <= 0)
		spin_ns = 1000000;
	free_list = calloc(nbufs, sizeof *free_list);
	if (!free_list)
		return -1;
	my_pid = getpid();
	poly_uid = geteuid();
	poly_gid = getegid();
	poly_active = 1;
	return 0;
}

/* process_stopped reports whether pid is stopped (job control, a tracer),
 * from the state letter after the last ')' of /proc/pid/stat. */
static int process_stopped(int32_t pid)
{
	char path[32], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	long fd = poly_sys(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return 0;
	long n = poly_sys(SYS_read, fd, (long)buf, sizeof buf - 1, 0, 0, 0);
	poly_sys(SYS_close, fd, 0, 0, 0, 0, 0);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'T' || p[2] == 't');
}

/* poly_alive is wire.Seg.Alive: status ready, pid exists, and a heartbeat
 * older than POLY_HEARTBEAT_STALE_NS only counts when the service is
 * stopped or silent beyond POLY_HEARTBEAT_SILENT_NS (starved services on
 * few cores miss their beats by seconds). */
int poly_alive(void)
{
	if (__atomic_load_n(&poly_hdr->status, __ATOMIC_SEQ_CST) != POLY_STATUS_READY)
		return 0;
	int32_t pid = __atomic_load_n(&poly_hdr->service_pid, __ATOMIC_SEQ_CST);
	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return 0;
	uint64_t hb = __atomic_load_n(&poly_hdr->heartbeat, __ATOMIC_SEQ_CST);
	uint64_t now = poly_now();
	if (now > hb && now - hb > POLY_HEARTBEAT_STALE_NS &&
	    (now - hb > POLY_HEARTBEAT_SILENT_NS || process_stopped(pid)))
		return 0;
	return 1;
}

static void mark_dead(void)
{
	if (!poly_dead)
		poly_debug("polytropon: the filesystem service is gone; calls on its files fail with EIO\n");
	__atomic_store_n(&poly_dead, 1, __ATOMIC_SEQ_CST);
}

/* owner_cas moves d's owner word from old to new. */
static int owner_cas(struct poly_desc *d, int32_t old, int32_t new)
{
	return __atomic_compare_exchange_n(&d->owner, &old, new, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

/* get_buffer returns a buffer index owned by this process, like
 * front.Conn.Get: one it parked, then a free one (CAS 0 -> pid), then one
 * another process parked (CAS -p -> pid), then wait up to 1s. */
static int get_buffer(uint32_t *out)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 1;
	int saved = errno;
	pthread_mutex_lock(&buf_mu);
	for (;;) {
		if (poly_dead) {
			pthread_mutex_unlock(&buf_mu);
			return -EIO;
		}
		if (nfree > 0) {
			uint32_t idx = free_list[--nfree];
			if (!owner_cas(desc_of(idx), -(int32_t)my_pid, (int32_t)my_pid)) {
				/* Taken over by another process (or its owner
				 * word scribbled): not ours any more. */
				nheld--;
				continue;
			}
			*out = idx;
			in_use++;
			pthread_mutex_unlock(&buf_mu);
			errno = saved;
			return 0;
		}
		for (uint32_t i = 0; i < 2 * nbufs; i++) {
			uint32_t idx = (next_claim + i) % nbufs;
			struct poly_desc *d = desc_of(idx);
			int32_t o = __atomic_load_n(&d->owner, __ATOMIC_SEQ_CST);
			/* First pass: free buffers; second: parked ones. */
			if ((i < nbufs ? o != 0 : o >= 0) || !owner_cas(d, o, (int32_t)my_pid))
				continue;
			__atomic_store_n(&d->state, POLY_STATE_IDLE, __ATOMIC_SEQ_CST);
			__atomic_store_n(&d->done, 0, __ATOMIC_SEQ_CST);
			__atomic_store_n(&d->waiter, 0, __ATOMIC_SEQ_CST);
			next_claim = idx + 1;
			nheld++;
			in_use++;
			*out = idx;
			pthread_mutex_unlock(&buf_mu);
			errno = saved;
			return 0;
		}
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (now.tv_sec > ts.tv_sec || (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec)) {
			pthread_mutex_unlock(&buf_mu);
			poly_debug("polytropon: no free request buffer (%u buffers, %u held by pid %d)\n", nbufs, nheld,
				   my_pid);
			return -EAGAIN;
		}
		if (in_use > 0) {
			pthread_cond_timedwait(&buf_cv, &buf_mu, &ts);
		} else {
			pthread_mutex_unlock(&buf_mu);
			usleep(1000);
			pthread_mutex_lock(&buf_mu);
		}
	}
}

static void put_buffer(uint32_t idx)
{
	pthread_mutex_lock(&buf_mu);
	if (owner_cas(desc_of(idx), (int32_t)my_pid, -(int32_t)my_pid))
		free_list[nfree++] = idx;
	else /* scribbled owner word: not ours any more */
		nheld--;
	in_use--;
	pthread_mutex_unlock(&buf_mu);
	pthread_cond_signal(&buf_cv);
}

/* abandon_buffer drops a buffer whose request may still be served (the
 * service died): it is neither reused nor released. */
static void abandon_buffer(uint32_t idx)
{
	(void)idx;
	pthread_mutex_lock(&buf_mu);
	in_use--;
	pthread_mutex_unlock(&buf_mu);
}

static uint32_t queue_of_cpu(void);

int pc_begin(struct pcall *c, uint32_t call)
{
	if (poly_dead)
		return -EIO;
	if (call != POLY_CALL_REGISTER && !__atomic_load_n(&poly_registered, __ATOMIC_ACQUIRE)) {
		int e = poly_ensure();
		if (e < 0)
			return e;
	}
	int r = get_buffer(&c->idx);
	if (r < 0)
		return r;
	/* Start moving the queue slot this call will write towards this core
	 * now, so the transfer overlaps the descriptor writes below. */
	uint8_t *qbase = poly_base + poly_hdr->queues_off + (uint64_t)queue_of_cpu() * poly_hdr->queue_stride;
	rcqb_prefetch_enqueue(qbase + sizeof(struct poly_queue_stats),
			      poly_hdr->queue_stride - sizeof(struct poly_queue_stats));
	c->d = desc_of(c->idx);
	c->data = data_of(c->idx);
	c->at = 0;
	struct poly_desc *d = c->d;
	/* The request fields only: the descriptor's padding line is never read. */
	memset(&d->call, 0, offsetof(struct poly_desc, out_len) + sizeof d->out_len - offsetof(struct poly_desc, call));
	d->call = call;
	d->client = poly_slot;
	d->uid = poly_uid;
	d->gid = poly_gid;
	return 0;
}

void pc_end(struct pcall *c)
{
	put_buffer(c->idx);
}

int pc_put(struct pcall *c, const void *p, size_t n, uint32_t *off, uint32_t *len)
{
	if ((uint64_t)c->at + n > poly_data_size)
		return -ENAMETOOLONG;
	memcpy(c->data + c->at, p, n);
	*off = c->at;
	*len = (uint32_t)n;
	c->at = (uint32_t)((c->at + n + 7) & ~7ull);
	return 0;
}

int pc_path(struct pcall *c, const char *p)
{
	size_t n = strlen(p);
	if (n > POLY_PATH_MAX)
		return -ENAMETOOLONG;
	return pc_put(c, p, n, &c->d->path_off, &c->d->path_len);
}

int pc_path2(struct pcall *c, const char *p)
{
	size_t n = strlen(p);
	if (n > POLY_PATH_MAX)
		return -ENAMETOOLONG;
	return pc_put(c, p, n, &c->d->path2_off, &c->d->path2_len);
}

void pc_out(struct pcall *c, size_t max)
{
	uint32_t n = poly_data_size - c->at;
	if (max < n)
		n = (uint32_t)max;
	c->d->out_off = c->at;
	c->d->out_len = n;
}

static uint32_t queue_of_cpu(void)
{
	if (poly_hdr->num_queues <= 1)
		return 0;
	int cpu = sched_getcpu();
	if (cpu < 0 || (uint32_t)cpu >= poly_hdr->num_cpus)
		return 0;
	uint32_t q = poly_hdr->queue_of_cpu[cpu];
	return q < poly_hdr->num_queues ? q : 0;
}

/* The adaptive wait (queue.Adaptive; ipc/queue/adaptive.go is the
 * reference and fs/front/adaptive.go the Go client's twin): poll for a
 * budget of POLY_ADAPTIVE_FACTOR x the running mean (weight 1/8) of this
 * call's waits, at least POLY_ADAPTIVE_MIN_NS and at most spin_ns (a call
 * expected to outlast spin_ns polls spin_ns, about the cost of a sleep,
 * then sleeps); burn the
 * CPU while fewer than (CPUs - 1) threads of this process burn, a service
 * thread of the queue is awake (poly_queue_stats.awake: one asleep needs a
 * CPU once our enqueue woke it, maybe ours) and no
 * preemption (a gap of POLY_ADAPTIVE_PREEMPT_GAP_NS between two polls) was
 * seen in the last POLY_ADAPTIVE_HOLD_NS (a gap counts only when the
 * thread's involuntary context switches rose: on a VM most gaps are the
 * vCPU stalled, not a thread of ours waiting); yield it (sched_yield) between
 * polls when no burner slot is free and no preemption was seen; sleep when
 * one was, and past the budget. Slept waits count as at most
 * 2 x spin_ns. */
static int64_t ad_mean[POLY_ADAPTIVE_CLASSES];
static int32_t ad_burners;
static int64_t ad_contended_until;
static int ad_cpus;

/* ad_preempted is queue.SwitchWatch.Rose: whether this thread's count of
 * involuntary context switches rose since its last call. */
static __thread long tls_nivcsw;

static int ad_preempted(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_THREAD, &ru) != 0)
		return 1;
	int rose = ru.ru_nivcsw != tls_nivcsw;
	tls_nivcsw = ru.ru_nivcsw;
	return rose;
}

static int64_t ad_budget(int64_t expected)
{
	int64_t lo = POLY_ADAPTIVE_MIN_NS < spin_ns ? POLY_ADAPTIVE_MIN_NS : spin_ns;
	if (expected <= 0 || expected >= spin_ns)
		return spin_ns;
	int64_t b = POLY_ADAPTIVE_FACTOR * expected;
	return b < lo ? lo : b > spin_ns ? spin_ns : b;
}

static int ad_try_burn(void)
{
	int32_t n = __atomic_load_n(&ad_burners, __ATOMIC_RELAXED);
	while (n < ad_cpus - 1)
		if (__atomic_compare_exchange_n(&ad_burners, &n, n + 1, 0, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED))
			return 1;
	return 0;
}

static void ad_end(uint32_t cls, uint64_t start, uint64_t now, int slept, int *burning)
{
	if (*burning) {
		__atomic_fetch_sub(&ad_burners, 1, __ATOMIC_SEQ_CST);
		*burning = 0;
	}
	int64_t d = (int64_t)(now - start);
	if (slept && d > 2 * spin_ns)
		d = 2 * spin_ns;
	int64_t old = __atomic_load_n(&ad_mean[cls], __ATOMIC_RELAXED);
	int64_t m = old == 0 ? d : old + (d - old) / 8;
	__atomic_store_n(&ad_mean[cls], m > 0 ? m : 1, __ATOMIC_RELAXED);
}

/* 0 when d completed while polling, 1 when the budget ran out (sleep), -EIO
 * when the service died. */
static int await_adaptive(struct poly_desc *d, uint32_t call, const struct poly_queue_stats *st)
{
	if (ad_cpus == 0) {
		cpu_set_t set;
		int n = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
		__atomic_store_n(&ad_cpus, n > 0 ? n : 1, __ATOMIC_RELAXED);
	}
	uint32_t cls = call % POLY_ADAPTIVE_CLASSES;
	uint64_t start = poly_now(), now = start, last = start, check = start;
	int64_t budget = ad_budget(__atomic_load_n(&ad_mean[cls], __ATOMIC_RELAXED));
	int burning = 0;
	for (;;) {
		if ((int64_t)(now - last) > POLY_ADAPTIVE_PREEMPT_GAP_NS && ad_preempted())
			__atomic_store_n(&ad_contended_until, (int64_t)now + POLY_ADAPTIVE_HOLD_NS, __ATOMIC_RELAXED);
		last = now;
		int64_t elapsed = (int64_t)(now - start);
		if (elapsed >= budget)
			break;
		int contended = (int64_t)now < __atomic_load_n(&ad_contended_until, __ATOMIC_RELAXED);
		int awake = __atomic_load_n(&st->awake, __ATOMIC_RELAXED) != 0;
		if (!contended && awake && !burning)
			burning = ad_try_burn();
		if (burning && (contended || !awake)) {
			__atomic_fetch_sub(&ad_burners, 1, __ATOMIC_SEQ_CST);
			burning = 0;
		}
		if (!burning && contended)
			break; /* a yield among many runnable threads costs a time slice */
		if (now - check > 100000000ull) {
			check = now;
			if (!poly_alive()) {
				ad_end(cls, start, now, 0, &burning);
				return -EIO;
			}
		}
		if (burning) {
			for (int i = 0; i < 64; i++) {
				if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0) {
					ad_end(cls, start, poly_now(), 0, &burning);
					return 0;
				}
				__builtin_ia32_pause();
			}
		} else {
			sched_yield();
			if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0) {
				ad_end(cls, start, poly_now(), 0, &burning);
				return 0;
			}
		}
		now = poly_now();
	}
	ad_end(cls, start, now, 1, &burning);
	return 1;
}

/* await is front.Conn.await: spin for spin_ns (spin-futex), or as the
 * adaptive wait says, then sleep on the done futex 100ms at a time,
 * checking liveness. 0 or -EIO. */
static int await_done(struct poly_desc *d, const struct poly_queue_stats *st)
{
	uint32_t wait = poly_hdr->queue_wait;
	if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0)
		return 0;
	if (wait == POLY_WAIT_ADAPTIVE) {
		int r = await_adaptive(d, d->call, st);
		if (r <= 0)
			return r;
	} else if (wait != POLY_WAIT_FUTEX) {
		uint64_t start = poly_now(), last = start;
		for (uint64_t i = 1;; i++) {
			if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0) {
				if (last != start)
					__atomic_store_n(&d->waiter, 0, __ATOMIC_SEQ_CST);
				return 0;
			}
			__builtin_ia32_pause();
			if (i % 256 == 0) {
				uint64_t now = poly_now();
				if (wait == POLY_WAIT_SPIN_FUTEX && (int64_t)(now - start) > spin_ns)
					break;
				if (now - last > 100000000ull) {
					last = now;
					/* past its enqueue, as a sleeper says: the
					 * service answers a lost item only then */
					__atomic_store_n(&d->waiter, 1, __ATOMIC_SEQ_CST);
					if (!poly_alive())
						return -EIO;
				}
				if (i % 1024 == 0)
					sched_yield();
			}
		}
	}
	for (;;) {
		__atomic_store_n(&d->waiter, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0) {
			__atomic_store_n(&d->waiter, 0, __ATOMIC_SEQ_CST);
			return 0;
		}
		poly_futex_wait(&d->done, 0, 100000000);
		if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0) {
			__atomic_store_n(&d->waiter, 0, __ATOMIC_SEQ_CST);
			return 0;
		}
		if (!poly_alive())
			return -EIO;
	}
}

/* await_rebuild waits until the generation of a queue differs from gen
 * (1), the service answered d (2: it answers the requests of a queue it
 * quarantines at once), or the deadline passes or the service is gone
 * (0): fs/front's awaitRebuild. */
static int await_rebuild(struct poly_queue_stats *st, uint32_t gen, struct poly_desc *d, uint64_t deadline)
{
	while (__atomic_load_n(&st->gen, __ATOMIC_SEQ_CST) == gen) {
		if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0)
			return 2;
		if (poly_now() > deadline || !poly_alive())
			return 0;
		usleep(1000);
	}
	return 1;
}

int64_t pc_do(struct pcall *c)
{
	if (poly_dead)
		return -EIO;
	int saved = errno;
	struct poly_desc *d = c->d;
	pid_t pid = my_pid;
	if (tls_tid_pid != pid) {
		tls_tid = poly_gettid();
		tls_tid_pid = pid;
	}
	d->tid = tls_tid;
	d->seq++;
	uint32_t q = queue_of_cpu();
	uint8_t *qbase = poly_base + poly_hdr->queues_off + (uint64_t)q * poly_hdr->queue_stride;
	struct poly_queue_stats *st = (struct poly_queue_stats *)qbase;
	__atomic_store_n(&d->done, 0, __ATOMIC_SEQ_CST);
	__atomic_store_n(&d->waiter, 0, __ATOMIC_SEQ_CST);
	d->queue = q;
	__atomic_store_n(&d->state, POLY_STATE_SUBMITTED, __ATOMIC_SEQ_CST);
	uint64_t deadline = 0; /* of the waits for a rebuild, set at the first failure */
	for (;;) {
		uint32_t gen = __atomic_load_n(&st->gen, __ATOMIC_SEQ_CST);
		/* 100ms: fs/front's enqueueTimeout */
		int r = rcqb_enqueue(qbase + sizeof *st, poly_hdr->queue_stride - sizeof *st, c->idx,
				     poly_hdr->queue_wait, 0, 100000000);
		if (r == RCQB_OK)
			break;
		if (r == RCQB_ERR_TIMEOUT && poly_alive()) {
			if (__atomic_load_n(&d->done, __ATOMIC_SEQ_CST) != 0)
				break; /* answered meanwhile (a quarantine) */
			continue;
		}
		if (poly_alive()) {
			/* A corrupted (or tenant-closed) queue: the service
			 * answers its requests, quarantines it and formats it
			 * anew under the next generation (fs/back); wait for
			 * that, 150ms in all per call (fs/front's requeueWait),
			 * then fail this call only. */
			if (deadline == 0)
				deadline = poly_now() + 150000000ull;
			int w = await_rebuild(st, gen, d, deadline);
			if (w == 2)
				break;
			if (w == 1)
				continue;
			uint32_t sub = POLY_STATE_SUBMITTED;
			__atomic_compare_exchange_n(&d->state, &sub, POLY_STATE_IDLE, 0, __ATOMIC_SEQ_CST,
						    __ATOMIC_SEQ_CST);
			errno = saved;
			return -EIO;
		}
		mark_dead();
		abandon_buffer(c->idx);
		c->idx = UINT32_MAX;
		errno = saved;
		return -EIO;
	}
	if (await_done(d, st) < 0) {
		mark_dead();
		errno = saved;
		return -EIO;
	}
	int64_t ret = __atomic_load_n(&d->ret, __ATOMIC_SEQ_CST);
	__atomic_store_n(&d->state, POLY_STATE_IDLE, __ATOMIC_SEQ_CST);
	errno = saved;
	if (ret < -4095)
		return -EIO;
	return ret;
}

/* pc_finish ends a call made by pc_do (a buffer abandoned by pc_do is not
 * returned). */
static void pc_finish(struct pcall *c)
{
	if (poly_dead && c->idx == UINT32_MAX)
		return;
	if (poly_dead) {
		abandon_buffer(c->idx);
		return;
	}
	pc_end(c);
}

int poly_register(uint64_t token)
{
	struct pcall c;
	int r = pc_begin(&c, POLY_CALL_REGISTER);
	if (r < 0)
		return r;
	c.d->args[0] = token;
	int64_t ret = pc_do(&c);
	pc_finish(&c);
	if (ret < 0)
		return (int)ret;
	poly_slot = (uint32_t)ret;
	poly_registered = 1;
	return 0;
}

int poly_ensure(void)
{
	if (!poly_active)
		return -ENOSYS;
	if (poly_dead)
		return -EIO;
	if (__atomic_load_n(&poly_registered, __ATOMIC_ACQUIRE))
		return 0;
	pthread_mutex_lock(&reg_mu);
	int r = 0;
	if (!poly_registered)
		r = poly_register(0);
	pthread_mutex_unlock(&reg_mu);
	if (r < 0 && r != -EIO)
		r = -EIO;
	return r;
}

/* The fork child starts with no buffer: those of the parent belong to the
 * parent's pid. */
void poly_front_after_fork_child(void)
{
	pthread_mutex_init(&buf_mu, NULL);
	pthread_cond_init(&buf_cv, NULL);
	pthread_mutex_init(&reg_mu, NULL);
	nfree = nheld = in_use = 0;
	my_pid = getpid();
	poly_registered = 0;
}

/* Before exec: give back the buffers not in use (the new image claims its
 * own; a failed exec claims again). */
void poly_front_before_exec(void)
{
	pthread_mutex_lock(&buf_mu);
	for (uint32_t i = 0; i < nfree; i++) {
		owner_cas(desc_of(free_list[i]), -(int32_t)my_pid, 0);
	}
	nfree = 0;
	nheld = in_use;
	pthread_mutex_unlock(&buf_mu);
}

/* ---- call helpers ---- */

int64_t poly_fdcall(uint32_t call, uint64_t sfd, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4)
{
	struct pcall c;
	int r = pc_begin(&c, call);
	if (r < 0)
		return r;
	c.d->args[0] = sfd;
	c.d->args[1] = a1;
	c.d->args[2] = a2;
	c.d->args[3] = a3;
	c.d->args[4] = a4;
	int64_t ret = pc_do(&c);
	pc_finish(&c);
	return ret;
}

int64_t poly_fdout(uint32_t call, uint64_t sfd, void *out, size_t max)
{
	struct pcall c;
	int r = pc_begin(&c, call);
	if (r < 0)
		return r;
	c.d->args[0] = sfd;
	pc_out(&c, max);
	int64_t ret = pc_do(&c);
	if (ret > (int64_t)c.d->out_len)
		ret = -EIO;
	if (ret > 0)
		memcpy(out, c.data + c.d->out_off, (size_t)ret);
	pc_finish(&c);
	return ret;
}

int64_t poly_fdargs(uint32_t call, uint64_t sfd, const uint64_t *args, int nargs, void *out, size_t max)
{
	struct pcall c;
	int r = pc_begin(&c, call);
	if (r < 0)
		return r;
	c.d->args[0] = sfd;
	for (int i = 0; i < nargs && i + 1 < POLY_NUM_ARGS; i++)
		c.d->args[i + 1] = args[i];
	if (out)
		pc_out(&c, max);
	int64_t ret = pc_do(&c);
	if (out && ret > (int64_t)c.d->out_len)
		ret = -EIO;
	if (out && ret > 0)
		memcpy(out, c.data + c.d->out_off, (size_t)ret);
	pc_finish(&c);
	return ret;
}

int64_t poly_pathcall(uint32_t call, uint32_t inst, const char *name, const char *name2, const uint64_t *args,
		      int nargs, void *out, size_t outmax)
{
	struct pcall c;
	int r = pc_begin(&c, call);
	if (r < 0)
		return r;
	c.d->instance = inst;
	for (int i = 0; i < nargs && i < POLY_NUM_ARGS; i++)
		c.d->args[i] = args[i];
	if ((r = pc_path(&c, name)) < 0 || (name2 && (r = pc_path2(&c, name2)) < 0)) {
		pc_end(&c);
		return r;
	}
	if (out)
		pc_out(&c, outmax);
	int64_t ret = pc_do(&c);
	if (out && ret > 0) {
		if (ret > (int64_t)c.d->out_len)
			ret = -EIO;
		else
			memcpy(out, c.data + c.d->out_off, (size_t)ret);
	}
	pc_finish(&c);
	return ret;
}

/* poly_rw moves n bytes: call is READ/PREAD (into buf) or WRITE/PWRITE
 * (from buf); off is used by PREAD/PWRITE. SMC copies through the data
 * area in chunks of its size; CMA lets the service move the payload with
 * process_vm_readv/writev. Returns bytes or -errno. */
ssize_t poly_rw(uint32_t call, uint64_t sfd, void *buf, size_t n, int64_t off)
{
	int reading = call == POLY_CALL_READ || call == POLY_CALL_PREAD;
	int positional = call == POLY_CALL_PREAD || call == POLY_CALL_PWRITE;
	if (n == 0)
		return positional && off < 0 ? -EINVAL : 0;
	struct pcall c;
	int r = pc_begin(&c, call);
	if (r < 0)
		return r;
	if (poly_copy == POLY_COPY_CMA) {
		c.d->flags = POLY_FLAG_CMA;
		c.d->args[0] = sfd;
		c.d->args[POLY_LEN_ARG] = n;
		c.d->args[POLY_OFF_ARG] = (uint64_t)off;
		c.d->args[POLY_ADDR_ARG] = (uint64_t)(uintptr_t)buf;
		int64_t ret = pc_do(&c);
		pc_finish(&c);
		return ret;
	}
	size_t done = 0;
	int64_t ret = 0;
	while (done < n) {
		size_t chunk = n - done;
		if (chunk > poly_data_size)
			chunk = poly_data_size;
		struct poly_desc *d = c.d;
		if (done > 0) {
			memset(&d->call, 0, sizeof *d - offsetof(struct poly_desc, call));
			d->call = call;
			d->client = poly_slot;
			d->uid = poly_uid;
			d->gid = poly_gid;
		}
		d->args[0] = sfd;
		d->args[POLY_LEN_ARG] = chunk;
		d->args[POLY_OFF_ARG] = positional ? (uint64_t)(off + (int64_t)done) : 0;
		if (reading) {
			d->out_off = 0;
			d->out_len = (uint32_t)chunk;
		} else {
			memcpy(c.data, (const char *)buf + done, chunk);
			d->data_off = 0;
			d->data_len = (uint32_t)chunk;
		}
		ret = pc_do(&c);
		if (ret < 0)
			break;
		if ((uint64_t)ret > chunk) {
			ret = -EIO;
			break;
		}
		if (reading)
			memcpy((char *)buf + done, c.data, (size_t)ret);
		done += (size_t)ret;
		if ((size_t)ret < chunk)
			break;
	}
	pc_finish(&c);
	if (ret < 0 && done == 0)
		return ret;
	return (ssize_t)done;
}
