/*
 * path.c: the working directory and path resolution. A path is ours when
 * its absolute, lexically cleaned form falls under a mount of the mount
 * table in the segment (longest prefix; the table is copied under its
 * seqlock and re-read when its generation changes). Relative paths are
 * resolved against the library's cwd; when that cwd is ours, a relative
 * path that leaves the mount goes to the kernel as an absolute path.
 */
#include "poly.h"

#include <stdlib.h>

char poly_cwd[POLY_PATH_MAX + 2] = "/";
int poly_cwd_ours;
pthread_mutex_t poly_cwd_mu = PTHREAD_MUTEX_INITIALIZER;

struct mnt {
	uint32_t inst;
	uint32_t flags;
	uint32_t len;
	char path[POLY_MOUNT_PATH_MAX + 1];
};
static struct mnt *mounts; /* longest path first */
static uint32_t nmounts;
static uint64_t mounts_gen = UINT64_MAX;
static pthread_mutex_t mnt_mu = PTHREAD_MUTEX_INITIALIZER;

/* poly_clean writes the cleaned absolute form of rel (joined to base when
 * relative) into dst: no "." or ".." components, no double or trailing
 * slashes. */
int poly_clean(char *dst, size_t cap, const char *base, const char *rel)
{
	char tmp[2 * POLY_PATH_MAX + 4];
	size_t n = 0;
	if (rel[0] != '/') {
		size_t bl = strlen(base);
		if (bl > POLY_PATH_MAX)
			return -ENAMETOOLONG;
		memcpy(tmp, base, bl);
		n = bl;
		tmp[n++] = '/';
	}
	size_t rl = strlen(rel);
	if (rl > POLY_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(tmp + n, rel, rl);
	n += rl;
	tmp[n] = 0;
	/* Walk components. */
	size_t o = 0;
	const char *p = tmp;
	if (cap < 2)
		return -ENAMETOOLONG;
	dst[o++] = '/';
	while (*p) {
		while (*p == '/')
			p++;
		if (!*p)
			break;
		const char *e = p;
		while (*e && *e != '/')
			e++;
		size_t cl = (size_t)(e - p);
		if (cl == 1 && p[0] == '.') {
		} else if (cl == 2 && p[0] == '.' && p[1] == '.') {
			if (o > 1) {
				o--; /* drop the slash after the last component */
				while (o > 1 && dst[o - 1] != '/')
					o--;
			}
		} else {
			if (o + cl + 2 > cap)
				return -ENAMETOOLONG;
			memcpy(dst + o, p, cl);
			o += cl;
			dst[o++] = '/';
		}
		p = e;
	}
	if (o > 1)
		o--; /* trailing slash */
	dst[o] = 0;
	return 0;
}

static int cmp_len(const void *a, const void *b)
{
	const struct mnt *x = a, *y = b;
	return (int)y->len - (int)x->len;
}

/* refresh_locked copies the mount table when its generation changed.
 * Preconditions: mnt_mu held. */
static void refresh_locked(void)
{
	uint64_t *genp = &poly_hdr->mount_gen;
	uint64_t g = __atomic_load_n(genp, __ATOMIC_SEQ_CST);
	if (g == mounts_gen)
		return;
	uint32_t n = poly_hdr->num_mounts;
	struct mnt *m = calloc(n ? n : 1, sizeof *m);
	if (!m)
		return;
	for (int tries = 0;; tries++) {
		g = __atomic_load_n(genp, __ATOMIC_SEQ_CST);
		if (g & 1) {
			if (tries > 100)
				usleep(1);
			continue;
		}
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			struct poly_mount_entry *e =
				(struct poly_mount_entry *)(poly_base + poly_hdr->mounts_off + (uint64_t)i * sizeof *e);
			uint32_t fl = __atomic_load_n(&e->flags, __ATOMIC_SEQ_CST);
			if (!(fl & POLY_MOUNT_USED))
				continue;
			uint32_t pl = __atomic_load_n(&e->path_len, __ATOMIC_SEQ_CST);
			if (pl == 0 || pl > POLY_MOUNT_PATH_MAX)
				continue;
			m[k].inst = __atomic_load_n(&e->instance, __ATOMIC_SEQ_CST);
			m[k].flags = fl;
			m[k].len = pl;
			memcpy(m[k].path, e->path, pl);
			m[k].path[pl] = 0;
			if (memchr(m[k].path, 0, pl) || m[k].path[0] != '/')
				continue;
			k++;
		}
		if (__atomic_load_n(genp, __ATOMIC_SEQ_CST) == g) {
			qsort(m, k, sizeof *m, cmp_len);
			free(mounts);
			mounts = m;
			nmounts = k;
			mounts_gen = g;
			return;
		}
	}
}

/* poly_match finds the mount of a cleaned absolute path: 1 with the
 * instance and the name inside it (pointing into abs), 0 if not ours. */
int poly_match(const char *abs, uint32_t *inst, const char **name, int *ro)
{
	if (!poly_active)
		return 0;
	pthread_mutex_lock(&mnt_mu);
	refresh_locked();
	int found = 0;
	size_t al = strlen(abs);
	for (uint32_t i = 0; i < nmounts; i++) {
		struct mnt *m = &mounts[i];
		const char *rest = NULL;
		if (m->len == 1 && m->path[0] == '/')
			rest = abs + 1;
		else if (al == m->len && memcmp(abs, m->path, al) == 0)
			rest = abs + al;
		else if (al > m->len && memcmp(abs, m->path, m->len) == 0 && abs[m->len] == '/')
			rest = abs + m->len + 1;
		if (rest) {
			*inst = m->inst;
			*name = rest;
			if (ro)
				*ro = (m->flags & POLY_MOUNT_READONLY) != 0;
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&mnt_mu);
	return found;
}

/* ---- kernel directory fds above mounts (the table is in fdtab.c) ---- */

/* is_ancestor reports whether the cleaned path abs is a proper ancestor of
 * some mount path. */
static int is_ancestor(const char *abs)
{
	size_t al = strlen(abs);
	int found = 0;
	pthread_mutex_lock(&mnt_mu);
	refresh_locked();
	for (uint32_t i = 0; i < nmounts && !found; i++) {
		struct mnt *m = &mounts[i];
		if (al == 1 && abs[0] == '/')
			found = m->len > 1;
		else if (m->len > al && memcmp(m->path, abs, al) == 0 && m->path[al] == '/')
			found = 1;
	}
	pthread_mutex_unlock(&mnt_mu);
	return found;
}

/* kdir_note remembers kernel directory fd fd opened on abs when abs is an
 * ancestor of a mount path, so *at calls relative to it can enter the
 * mount. */
void kdir_note(int fd, const char *abs)
{
	if (fd < 0 || fd >= POLY_MAX_FDS || !poly_active || !is_ancestor(abs))
		return;
	kdir_set(fd, abs);
}

void poly_set_cwd(const char *abs)
{
	uint32_t inst;
	const char *name;
	pthread_mutex_lock(&poly_cwd_mu);
	size_t n = strlen(abs);
	if (n <= POLY_PATH_MAX) {
		memcpy(poly_cwd, abs, n + 1);
		poly_cwd_ours = poly_match(poly_cwd, &inst, &name, NULL);
	}
	pthread_mutex_unlock(&poly_cwd_mu);
}

void poly_cwd_init(const char *cwd)
{
	char buf[POLY_PATH_MAX + 2];
	if (!cwd) {
		if (!REAL(getcwd)(buf, sizeof buf))
			strcpy(buf, "/");
		cwd = buf;
	}
	char c[POLY_PATH_MAX + 2];
	if (poly_clean(c, sizeof c, "/", cwd) < 0)
		strcpy(c, "/");
	poly_set_cwd(c);
}

/* poly_resolve decides who serves (dirfd, path). */
int poly_resolve(int dirfd, const char *path, struct rpath *rp)
{
	rp->ours = 0;
	rp->have_abs = 0;
	rp->kpath = path;
	rp->kdirfd = dirfd;
	rp->readonly = 0;
	if (!path)
		return -EFAULT;
	if (!poly_active)
		return poly_fence_check(dirfd, path);
	if (path[0] == 0) /* AT_EMPTY_PATH calls on library fds are handled by the callers */
		return lfd_get(dirfd) ? -ENOENT : 0;
	int r;
	if (path[0] == '/') {
		r = poly_clean(rp->abs, sizeof rp->abs, "/", path);
	} else if (dirfd == AT_FDCWD) {
		pthread_mutex_lock(&poly_cwd_mu);
		r = poly_clean(rp->abs, sizeof rp->abs, poly_cwd, path);
		int ours = poly_cwd_ours;
		pthread_mutex_unlock(&poly_cwd_mu);
		if (r < 0)
			return r;
		rp->have_abs = 1;
		if (!ours) {
			/* The kernel's cwd is ours too: a relative path below a
			 * kernel cwd is ours only if the cwd is under a mount. */
			if (!poly_match(rp->abs, &rp->inst, &rp->name, &rp->readonly))
				return 0;
			rp->ours = 1;
			return 0;
		}
	} else {
		struct lfd *f = lfd_get(dirfd);
		char kbuf[POLY_PATH_MAX + 2];
		const char *base = f ? f->path : kdir_path(dirfd, kbuf, sizeof kbuf);
		if (!base)
			return 0; /* a kernel directory fd (not above a mount) */
		r = poly_clean(rp->abs, sizeof rp->abs, base, path);
	}
	if (r < 0)
		return r;
	rp->have_abs = 1;
	if (poly_match(rp->abs, &rp->inst, &rp->name, &rp->readonly)) {
		rp->ours = 1;
		return 0;
	}
	if (path[0] == '/')
		return 0; /* the kernel gets the path as given */
	rp->kpath = rp->abs;
	rp->kdirfd = AT_FDCWD;
	return 0;
}

/* ---- no silent fallback ----
 *
 * A library whose environment names a pool
 * ($POLYTROPON_SHM_KEY or $POLYTROPON_POOL) but that cannot attach the
 * pool's segment (no service, a bad layout) does not stay inert for the
 * paths the pool's service owns: a write there would land in the bare
 * host directory beneath the mount point instead of the tenant's
 * storage. The paths listed in $POLYTROPON_MOUNTS (absolute, separated by
 * ':') are fenced: calls on them fail with ENOTCONN, as on a FUSE mount
 * whose daemon is gone, unless a FUSE mount of the service
 * (fuse.polytropon, the legacy path) covers the path, which then serves
 * (or refuses) it itself. A library whose environment names no pool
 * stays inert; every other path goes to the kernel as before.
 */


int poly_fenced;
static char **fence;
static size_t nfence;

void poly_fence_init(void)
{
	const char *k = getenv("POLYTROPON_SHM_KEY"), *pool = getenv("POLYTROPON_POOL");
	const char *ms = getenv("POLYTROPON_MOUNTS");
	if (!((k && *k) || (pool && *pool)) || !ms || !*ms)
		return;
	char *list = strdup(ms);
	if (!list)
		return;
	size_t cap = 1;
	for (const char *p = ms; *p; p++)
		cap += *p == ':';
	fence = calloc(cap, sizeof *fence);
	if (!fence) {
		free(list);
		return;
	}
	char *save = NULL;
	for (char *t = strtok_r(list, ":", &save); t; t = strtok_r(NULL, ":", &save)) {
		char c[POLY_PATH_MAX + 2];
		if (t[0] != '/' || poly_clean(c, sizeof c, "/", t) < 0)
			continue;
		if ((fence[nfence] = strdup(c)) != NULL)
			nfence++;
	}
	free(list);
	poly_fenced = nfence > 0;
	if (poly_fenced)
		poly_debug("polytropon: the pool's service is unusable; its %zu mount(s) answer ENOTCONN\n", nfence);
}

/* under reports whether cleaned path abs is dir or below it. */
static int under(const char *abs, const char *dir)
{
	size_t dl = strlen(dir);
	if (dl == 1)
		return 1;
	return strncmp(abs, dir, dl) == 0 && (abs[dl] == 0 || abs[dl] == '/');
}

/* fuse_covers reports whether a fuse.polytropon mount of this mount
 * namespace covers abs (the legacy path serves it). */
static int fuse_covers(const char *abs)
{
	FILE *f = REAL(fopen)("/proc/self/mountinfo", "re");
	if (!f)
		return 0;
	char line[4096 + 512];
	int found = 0;
	while (!found && fgets(line, sizeof line, f)) {
		/* id parent major:minor root mountpoint options ... - fstype source ... */
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "fuse.polytropon ", 16) != 0)
			continue;
		char *save = NULL, *mp = NULL, *t = strtok_r(line, " ", &save);
		for (int i = 0; t && i < 4; i++)
			mp = t = strtok_r(NULL, " ", &save);
		if (mp && mp[0] == '/')
			found = under(abs, mp);
	}
	fclose(f);
	return found;
}

/* poly_fence_check is poly_resolve for a fenced library: 0 (the kernel
 * serves the path) or -ENOTCONN. */
int poly_fence_check(int dirfd, const char *path)
{
	if (!poly_fenced || !path || !*path)
		return 0;
	char base[POLY_PATH_MAX + 2], abs[POLY_PATH_MAX + 2];
	const char *b = "/";
	if (path[0] != '/') {
		if (dirfd == AT_FDCWD) {
			if (!REAL(getcwd)(base, sizeof base))
				return 0;
		} else {
			char link[64];
			snprintf(link, sizeof link, "/proc/self/fd/%d", dirfd);
			ssize_t n = REAL(readlink)(link, base, sizeof base - 1);
			if (n <= 0 || base[0] != '/')
				return 0;
			base[n] = 0;
		}
		b = base;
	}
	if (poly_clean(abs, sizeof abs, b, path) < 0)
		return 0;
	for (size_t i = 0; i < nfence; i++)
		if (under(abs, fence[i]))
			return fuse_covers(abs) ? 0 : -ENOTCONN;
	return 0;
}

int poly_refused(const char *path) { return poly_fence_check(AT_FDCWD, path) < 0; }
